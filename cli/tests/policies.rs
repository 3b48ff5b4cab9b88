//! Policy plugins end to end on a real server: identity from TLS client
//! certificates, policy versions deployed, shadowed and rolled back through
//! the admin API and the CLI, and `hash-key`. The example policies in
//! chains, API keys and JWTs, tenants and quotas, and hostile policies are
//! tested in-process in `node/tests/policies.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgeserve_test_support::{Repo, Server, TestCa, components, run, tempfile};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// A policy version folder with its `config`.
fn add_policy(repo: &Repo, name: &str, component: &str, config: &str) {
    repo.add_policy(name, component, config).unwrap();
}

/// The echo fixture (y = x) with extra manifest text.
fn add_echo(repo: &Repo, name: &str, extra: &str) {
    let manifest = format!("{extra}\n[config]\nmode = \"echo\"\n[limits]\ndeadline = \"5s\"\n");
    repo.add(name, "1", components::FAULTY, &manifest).unwrap();
}

fn hash(key: &str) -> String {
    edgeserve_node::security::hash_api_key(key)
}

/// Starts a server on `repo` with `config` (TOML) written to a file.
fn start(repo: &Repo, dir: &Path, config: &str) -> Server {
    edgeserve_test_support::start_with_config(BIN, repo, dir, config).unwrap()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    body: Value,
}

fn post(c: &Client, s: &Server, model: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut req = c
        .post(s.url(&format!("/v2/models/{model}/infer")))
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    Answer {
        status,
        body: r.json().unwrap_or(Value::Null),
    }
}

fn x_body(x: &[f32], params: Value) -> Value {
    json!({"parameters": params, "inputs": [{"name": "x", "shape": [x.len()], "datatype": "FP32", "data": x}]})
}

fn error(a: &Answer) -> String {
    a.body["error"].as_str().unwrap_or_default().to_string()
}

fn tls_client(root: &str, identity: Option<(&str, &str)>) -> Client {
    let mut b = Client::builder()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .use_rustls_tls();
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

#[test]
fn identity_from_tls_client_certificates() {
    let ca = TestCa::new("edgeserve test CA");
    let rogue = TestCa::new("some other CA");
    let (server_cert, server_key) = ca.leaf("edgeserve", &["127.0.0.1", "localhost"]);
    let svc = ca.leaf("svc-b", &[]);
    let unmapped = ca.leaf("svc-z", &[]);
    let evil = rogue.leaf("svc-b", &[]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p: PathBuf = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert, key, ca_path) = (
        write("server.pem", &server_cert),
        write("server.key", &server_key),
        write("ca.pem", &ca.pem()),
    );
    let repo = Repo::new().unwrap();
    add_policy(
        &repo,
        "tag",
        components::ROGUE_POLICY,
        "mode = \"tag\"\nstage = \"request\"",
    );
    add_echo(&repo, "m", "");
    let base = format!(
        r#"
[server]
tls_cert = "{cert}"
tls_key = "{key}"
tls_client_ca = "{ca_path}"

[[auth.client_certs]]
common_name = "svc-b"
tenant = "acme"

[[policies]]
policy = "tag"
"#
    );
    let s = start(&repo, dir.path(), &base);
    assert_eq!(s.scheme, "https");
    let body = x_body(&[1.0], json!({}));
    let root = ca.pem();

    let c = tls_client(&root, Some((&svc.0, &svc.1)));
    assert_eq!(post(&c, &s, "m", &body, &[]).status, 200);
    assert!(
        s.wait_for_log(
            "rogue saw tenant=acme principal=svc-b method=mtls",
            Duration::from_secs(5)
        ),
        "{}",
        s.log()
    );
    let c = tls_client(&root, Some((&unmapped.0, &unmapped.1)));
    assert_eq!(post(&c, &s, "m", &body, &[]).status, 200);
    assert!(s.wait_for_log(
        "rogue saw tenant=- principal=svc-z method=mtls",
        Duration::from_secs(5)
    ));
    // Optional: without a certificate the caller is anonymous.
    let c = tls_client(&root, None);
    assert_eq!(post(&c, &s, "m", &body, &[]).status, 200);
    assert!(s.wait_for_log(
        "rogue saw tenant=- principal=- method=anonymous",
        Duration::from_secs(5)
    ));
    // A certificate from another CA never completes the handshake.
    let c = tls_client(&root, Some((&evil.0, &evil.1)));
    let r = c.post(s.url("/v2/models/m/infer")).json(&body).send();
    assert!(r.is_err() || r.is_ok_and(|r| !r.status().is_success()));
    drop(s);

    // Required: no certificate, no connection.
    let dir2 = tempfile::tempdir().unwrap();
    let s = start(
        &repo,
        dir2.path(),
        &base.replace(
            "[[auth.client_certs]]",
            "tls_client_cert_required = true\n\n[[auth.client_certs]]",
        ),
    );
    let c = tls_client(&root, None);
    let r = c.post(s.url("/v2/models/m/infer")).json(&body).send();
    assert!(r.is_err() || r.is_ok_and(|r| !r.status().is_success()));
    let c = tls_client(&root, Some((&svc.0, &svc.1)));
    assert_eq!(post(&c, &s, "m", &body, &[]).status, 200);
}

#[test]
fn policies_deploy_canary_and_roll_back_like_models() {
    let repo = Repo::new().unwrap();
    add_policy(
        &repo,
        "tenant-access",
        components::TENANT_ACCESS,
        "anonymous = \"m\"",
    );
    add_echo(&repo, "m", "[[policies]]\npolicy = \"tenant-access\"");
    let dir = tempfile::tempdir().unwrap();
    let s = start(&repo, dir.path(), "");
    let c = client();
    let body = x_body(&[1.0], json!({}));
    assert_eq!(post(&c, &s, "m", &body, &[]).status, 200);

    // Version 2 allows anonymous callers nothing; deploying it swaps the
    // policy atomically.
    let v2 = tempfile::tempdir().unwrap();
    std::fs::copy(components::TENANT_ACCESS, v2.path().join("policy.wasm")).unwrap();
    std::fs::write(
        v2.path().join("manifest.toml"),
        "kind = \"policy\"\ncomponent = \"policy.wasm\"\n[config]\nanonymous = \"other\"\n",
    )
    .unwrap();
    let admin = format!("http://{}", s.admin_addr.as_deref().unwrap());
    let (code, out, err) = run(
        BIN,
        &[
            "deploy",
            "--admin",
            &admin,
            "tenant-access",
            "2",
            "--promote",
            "--path",
            v2.path().to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let a = post(&c, &s, "m", &body, &[]);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(error(&a).contains("tenant-access@2"));

    // A policy takes no shadow; a model component cannot join a policy's
    // name; a policy manifest cannot claim to be a model.
    let (code, _, err) = run(BIN, &["shadow", "--admin", &admin, "tenant-access", "1"]).unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("policies take no shadow"), "{err}");
    let (code, _, err) = run(
        BIN,
        &[
            "deploy",
            "--admin",
            &admin,
            "tenant-access",
            "3",
            "--component",
            components::FAULTY,
        ],
    )
    .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("a name holds one kind"), "{err}");

    // Canary at 50 %: both versions decide.
    let (code, out, err) = run(
        BIN,
        &[
            "canary",
            "--admin",
            &admin,
            "tenant-access",
            "1",
            "--weight",
            "50",
        ],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let statuses: Vec<u16> = (0..60)
        .map(|_| post(&c, &s, "m", &body, &[]).status)
        .collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&403),
        "{statuses:?}"
    );
    let (code, out, err) = run(
        BIN,
        &["canary", "--admin", &admin, "tenant-access", "--clear"],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");

    // Rollback restores version 1's decisions.
    let (code, out, err) = run(BIN, &["rollback", "--admin", &admin, "tenant-access"]).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(post(&c, &s, "m", &body, &[]).status, 200);
}

#[test]
fn hash_key_prints_the_configured_hash() {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .arg("hash-key")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"my-key\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        hash("my-key")
    );

    // With --name: a block that pastes into the configuration as is.
    let mut child = std::process::Command::new(BIN)
        .args(["hash-key", "--name", "billing \"eu\"", "--tenant", "acme"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"my-key\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let block = String::from_utf8(out.stdout).unwrap();
    let cfg: edgeserve_node::config::ServeConfig = toml::from_str(&block).unwrap();
    let key = &cfg.auth.api_keys[0];
    assert_eq!(key.name, "billing \"eu\"", "{block}");
    assert_eq!(key.sha256, hash("my-key"), "{block}");
    assert_eq!(key.tenant.as_deref(), Some("acme"), "{block}");
}

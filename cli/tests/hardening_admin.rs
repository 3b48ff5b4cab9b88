//! Attacks on the admin API, performed against a real server: its token
//! sniffed off a plain-HTTP listener, a scraper's credential used to
//! deploy, a web page (or a DNS-rebinding one) trying to roll back a
//! model, and a spoofed `X-Forwarded-For` in the audit log.

use std::path::Path;
use std::time::Duration;

use edgeserve_test_support::{Repo, Server, TestCa, components, run, tempfile};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");
const TOKEN: &str = "admin-token-0123456789abcdef";
const SCRAPE: &str = "metrics-token-0123456789abcdef";

fn repo() -> Repo {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add_example("iris", "2", components::IRIS).unwrap();
    repo
}

fn start(repo: &Repo, dir: &Path, config: &str) -> Server {
    edgeserve_test_support::start_with_config(BIN, repo, dir, config).unwrap()
}

fn primary(c: &Client, s: &Server) -> Value {
    let v: Value = c
        .get(s.admin_url("/admin/v1/models/iris"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["primary"].clone()
}

#[test]
fn the_admin_api_speaks_tls_and_can_require_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("admin CA");
    let (cert, key) = ca.leaf("node", &["127.0.0.1"]);
    let (client_cert, client_key) = ca.leaf("operator", &[]);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert, key, ca_pem) = (
        write("admin.pem", &cert),
        write("admin.key", &key),
        write("ca.pem", &ca.pem()),
    );
    let (client_cert, client_key) = (write("op.pem", &client_cert), write("op.key", &client_key));
    let repo = repo();
    let s = start(
        &repo,
        dir.path(),
        &format!(
            "[admin]\ntoken = \"{TOKEN}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n\
             tls_client_ca = \"{ca_pem}\"\ntls_client_cert_required = true\n"
        ),
    );
    assert_eq!(s.admin_scheme, "https");
    let url = format!("https://{}", s.admin_addr.as_deref().unwrap());
    let status = |extra: &[&str]| {
        let mut args = vec!["status", "--admin", url.as_str(), "--token", TOKEN];
        args.extend_from_slice(extra);
        run(BIN, &args).unwrap()
    };
    let (code, out, err) = status(&[
        "--ca",
        &ca_pem,
        "--cert",
        &client_cert,
        "--key",
        &client_key,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("iris"), "{out}");
    // No client certificate: no connection.
    let (code, _, err) = status(&["--ca", &ca_pem]);
    assert_eq!(code, 3, "{err}");
    // The node's certificate is checked against the CA given (here: the
    // public roots, which do not sign it).
    let (code, _, err) = status(&["--cert", &client_cert, "--key", &client_key]);
    assert_eq!(code, 3, "{err}");
    // Plain HTTP to the TLS port gets nothing.
    let plain = format!("http://{}", s.admin_addr.as_deref().unwrap());
    let (code, _, err) = run(
        BIN,
        &[
            "status",
            "--admin",
            &plain,
            "--token",
            TOKEN,
            "--timeout",
            "5",
        ],
    )
    .unwrap();
    assert_eq!(code, 3, "{err}");
}

#[test]
fn a_non_loopback_admin_api_needs_tls() {
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (code, _, err) = run(
        BIN,
        &[
            "serve",
            "--repository",
            repo.path().to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "0.0.0.0:0",
            "--admin-token",
            TOKEN,
        ],
    )
    .unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("over plain HTTP") && err.contains("tls_cert"),
        "{err}"
    );
}

#[test]
fn the_metrics_token_reads_metrics_and_nothing_else() {
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &repo,
        dir.path(),
        &format!("[admin]\ntoken = \"{TOKEN}\"\nmetrics_token = \"{SCRAPE}\"\n"),
    );
    let c = Client::new();
    let get = |path: &str, token: &str| {
        c.get(s.admin_url(path))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get("/metrics", SCRAPE), 200);
    assert_eq!(get("/metrics", TOKEN), 200);
    assert_eq!(get("/admin/v1/models", SCRAPE), 401);
    let r = c
        .post(s.admin_url("/admin/v1/models/iris/rollback"))
        .bearer_auth(SCRAPE)
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .put(s.admin_url("/admin/v1/models/iris/primary"))
        .bearer_auth(SCRAPE)
        .json(&json!({"version": "1"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(primary(&c, &s), "2");
}

#[test]
fn a_web_page_cannot_change_the_node() {
    // The default node: admin API on loopback with no token, where a
    // browser on the same machine can reach it.
    let repo = repo();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let c = Client::new();
    let admin = s.admin_addr.clone().unwrap();
    let url = s.admin_url("/admin/v1/models/iris/primary");
    let send = |headers: &[(&str, &str)]| {
        let mut r = c.put(&url).body(r#"{"version":"1"}"#);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    };
    // A form or fetch() without a preflight: no JSON content type.
    let (status, body) = send(&[("content-type", "text/plain")]);
    assert_eq!(status, 415, "{body}");
    // A page of another origin.
    let (status, body) = send(&[
        ("content-type", "application/json"),
        ("origin", "http://attacker.example"),
    ]);
    assert_eq!(status, 403, "{body}");
    // DNS rebinding: the page's own name now points at the node.
    let (status, body) = send(&[
        ("content-type", "application/json"),
        ("host", "attacker.example:8082"),
    ]);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("allowed_hosts"),
        "{body}"
    );
    let status_now: Value = c
        .get(s.admin_url("/admin/v1/models/iris"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status_now["primary"], "2", "nothing changed");
    // The operator's CLI (JSON, by IP address) still works.
    let (code, out, err) = run(
        BIN,
        &[
            "promote",
            "iris",
            "1",
            "--admin",
            &format!("http://{admin}"),
        ],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(s.wait_for_log("event=\"admin_refused\"", Duration::from_secs(5)));
}

#[test]
fn the_admin_audit_names_the_connection_not_a_header() {
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &repo,
        dir.path(),
        &format!("[admin]\ntoken = \"{TOKEN}\"\n"),
    );
    let c = Client::new();
    let r = c
        .get(s.admin_url("/admin/v1/models"))
        .header("x-forwarded-for", "203.0.113.9")
        .bearer_auth("wrong-token-0123456789")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(s.wait_for_log("admin authentication failed", Duration::from_secs(5)));
    let line = s
        .log()
        .lines()
        .find(|l| l.contains("admin authentication failed"))
        .unwrap()
        .to_string();
    assert!(line.contains("client=\"127.0.0.1:"), "{line}");
    assert!(!line.contains("203.0.113.9"), "{line}");
    assert!(!s.log().contains("wrong-token"), "tokens are never logged");
}

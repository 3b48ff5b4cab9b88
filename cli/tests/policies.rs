//! Policy plugins and tenants, end to end on a real server: the example
//! policies in chains, every identity method (API keys, HS256/RS256/ES256
//! JWTs, TLS client certificates), tenant access and quotas, hostile
//! policies failing closed (or open), rewrites feeding the next stage,
//! policy versions deployed and rolled back, and the audit log.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgeserve_test_support::{Repo, Server, TestCa, components, repo_root, run, tempfile};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// A policy version folder: the component and a manifest with `config`.
fn add_policy(repo: &Repo, name: &str, component: &str, config: &str) {
    let manifest = format!(
        "kind = \"policy\"\n[limits]\nmemory = \"8MiB\"\ndeadline = \"200ms\"\npool_size = 4\n[config]\n{config}\n"
    );
    repo.add(name, "1", component, &manifest).unwrap();
}

/// The Iris example with extra manifest text appended (e.g. `[[policies]]`).
fn add_iris(repo: &Repo, extra: &str) {
    let dir = repo.add_example("iris", "1", components::IRIS).unwrap();
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n{extra}\n")).unwrap();
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
    headers: reqwest::header::HeaderMap,
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
    let headers = r.headers().clone();
    Answer {
        status,
        body: r.json().unwrap_or(Value::Null),
        headers,
    }
}

fn iris_body(rows: &[[f32; 4]]) -> Value {
    let data: Vec<f32> = rows.iter().flatten().copied().collect();
    json!({"inputs": [{"name": "input", "shape": [rows.len(), 4], "datatype": "FP32", "data": data}]})
}

fn x_body(x: &[f32], params: Value) -> Value {
    json!({"parameters": params, "inputs": [{"name": "x", "shape": [x.len()], "datatype": "FP32", "data": x}]})
}

fn output<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|t| t["name"] == name))
        .unwrap_or(&Value::Null)
}

fn error(a: &Answer) -> String {
    a.body["error"].as_str().unwrap_or_default().to_string()
}

fn admin_status(c: &Client, s: &Server, name: &str) -> Value {
    c.get(s.admin_url(&format!("/admin/v1/models/{name}")))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The audit lines of the server's log, once `last` (the line expected
/// last) has arrived: the log is read from the server's stderr as it comes.
fn audit_lines(s: &Server, last: &str) -> Vec<String> {
    assert!(
        s.wait_for_log(last, Duration::from_secs(10)),
        "no {last:?} in the log:\n{}",
        s.log()
    );
    s.log()
        .lines()
        .filter(|l| l.contains("edgeserve::audit"))
        .map(String::from)
        .collect()
}

#[test]
fn example_policies_guard_shape_and_redact_in_chains() {
    let repo = Repo::new().unwrap();
    add_policy(
        &repo,
        "tenant-access",
        components::TENANT_ACCESS,
        "\"allow.acme\" = \"iris, legacy-echo\"\n\"allow.globex\" = \"legacy-echo\"\nanonymous = \"legacy-echo\"",
    );
    add_policy(
        &repo,
        "input-guard",
        components::INPUT_GUARD,
        "\"range.input\" = \"0,10\"\nmax_batch = \"2\"",
    );
    add_policy(
        &repo,
        "response-shaper",
        components::RESPONSE_SHAPER,
        "top_k = \"2\"\ndecimals = \"2\"\nclass_names = \"setosa, versicolor, virginica\"",
    );
    add_policy(&repo, "pii-redaction", components::PII_REDACTION, "");
    add_iris(
        &repo,
        "[[policies]]\npolicy = \"input-guard\"\nstages = [\"request\"]\n[[policies]]\npolicy = \"response-shaper\"\nstages = [\"response\"]",
    );
    // Built against WIT 0.1.0, before the policy world existed.
    repo.add(
        "legacy-echo",
        "1",
        components::LEGACY_ECHO,
        "[[policies]]\npolicy = \"pii-redaction\"\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[[auth.api_keys]]
name = "acme-svc"
sha256 = "{}"
tenant = "acme"

[[auth.api_keys]]
name = "globex-svc"
sha256 = "{}"
tenant = "globex"

[[policies]]
policy = "tenant-access"
stages = ["request"]
"#,
        hash("acme-key-0123456789"),
        hash("globex-key-0123456789")
    );
    let s = start(&repo, dir.path(), &config);
    let c = client();
    let acme = [("x-api-key", "acme-key-0123456789")];
    let globex = [("authorization", "Bearer globex-key-0123456789")];

    // Allowed, guarded, then shaped: top-2 rounded scores with class names.
    let a = post(&c, &s, "iris", &iris_body(&[[5.1, 3.5, 1.4, 0.2]]), &acme);
    assert_eq!(a.status, 200, "{}", a.body);
    let probs = output(&a.body, "probabilities");
    assert_eq!(probs["shape"], json!([1, 2]), "{}", a.body);
    let p: Vec<f64> = probs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(p[0] >= p[1]);
    for v in &p {
        assert!(
            ((v * 100.0).round() - v * 100.0).abs() < 1e-3,
            "{v} not rounded"
        );
    }
    let classes = output(&a.body, "probabilities_classes");
    assert_eq!(classes["data"][0], "setosa", "{}", a.body);
    assert_eq!(classes["shape"], json!([1, 2]));

    // Tenant access (global chain): globex may not call iris, nor anonymous.
    let a = post(&c, &s, "iris", &iris_body(&[[5.1, 3.5, 1.4, 0.2]]), &globex);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(error(&a).contains("tenant-access@1"), "{}", error(&a));
    assert!(error(&a).contains("globex"), "{}", error(&a));
    let a = post(&c, &s, "iris", &iris_body(&[[5.1, 3.5, 1.4, 0.2]]), &[]);
    assert_eq!(a.status, 403, "{}", a.body);

    // Input guard: out of range, batch too large, NaN (binary tensor data,
    // as JSON cannot carry NaN).
    let a = post(&c, &s, "iris", &iris_body(&[[5.1, 11.0, 1.4, 0.2]]), &acme);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        error(&a).contains("input-guard@1") && error(&a).contains("outside"),
        "{}",
        error(&a)
    );
    let rows = [[1.0, 1.0, 1.0, 1.0]; 3];
    let a = post(&c, &s, "iris", &iris_body(&rows), &acme);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(error(&a).contains("batch"), "{}", error(&a));
    let header = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}).to_string();
    let mut body = header.clone().into_bytes();
    for v in [5.1f32, f32::NAN, 1.4, 0.2] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let r = c
        .post(s.url("/v2/models/iris/infer"))
        .header("x-api-key", "acme-key-0123456789")
        .header("inference-header-content-length", header.len().to_string())
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().unwrap();
    assert!(text.contains("NaN"), "{text}");

    // Redaction on a model built for WIT 0.1.0, anonymous caller allowed.
    let secret = "mail bob.smith@example.com or call +1 415-555-0100, card 4111 1111 1111 1111";
    let body = json!({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": [secret, "nothing here"]}]});
    let a = post(&c, &s, "legacy-echo", &body, &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    let out = output(&a.body, "text")["data"].clone();
    let first = out[0].as_str().unwrap();
    for (gone, mark) in [
        ("bob.smith@example.com", "[EMAIL]"),
        ("415-555-0100", "[PHONE]"),
        ("4111 1111 1111 1111", "[CARD]"),
    ] {
        assert!(!first.contains(gone) && first.contains(mark), "{first}");
    }
    assert_eq!(out[1], "nothing here");

    // A policy is not a model on the data plane, and the answer does not
    // say that it exists.
    let a = post(&c, &s, "tenant-access", &iris_body(&[[1.0; 4]]), &acme);
    assert_eq!(a.status, 404);
    assert_eq!(error(&a), "unknown model 'tenant-access'");

    // Decisions are counted per policy version.
    let st = admin_status(&c, &s, "tenant-access");
    let d = &st["versions"][0]["policy_decisions"];
    assert!(d["denied"].as_u64().unwrap() >= 2, "{st}");
    assert!(d["allowed"].as_u64().unwrap() >= 4, "{st}");
    let st = admin_status(&c, &s, "pii-redaction");
    assert!(
        st["versions"][0]["policy_decisions"]["rewrote"]
            .as_u64()
            .unwrap()
            >= 1,
        "{st}"
    );

    // Audit: every deny, with tenant, principal, model and policy; never
    // the API key itself.
    let audit = audit_lines(&s, "policy=\"input-guard@1\"");
    assert!(
        audit.iter().any(|l| l.contains("event=\"deny\"")
            && l.contains("tenant=\"globex\"")
            && l.contains("principal=\"globex-svc\"")
            && l.contains("policy=\"tenant-access@1\"")
            && l.contains("model=\"iris\"")),
        "{audit:#?}"
    );
    assert!(
        audit.iter().any(|l| l.contains("policy=\"input-guard@1\"")),
        "{audit:#?}"
    );
    let log = s.log();
    assert!(!log.contains("acme-key-0123456789") && !log.contains("globex-key-0123456789"));
}

/// Seconds since the epoch, shifted.
fn now_plus(secs: i64) -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + secs
}

fn jwt(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(String::from);
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn claims(sub: &str, exp: i64) -> Value {
    json!({"sub": sub, "tenant": "acme", "iss": "https://id.test", "aud": "edgeserve", "exp": exp})
}

#[test]
fn identity_from_api_keys_and_jwts() {
    let repo = Repo::new().unwrap();
    add_policy(
        &repo,
        "tag",
        components::ROGUE_POLICY,
        "mode = \"tag\"\nstage = \"request\"",
    );
    add_echo(&repo, "m", "");
    add_echo(&repo, "open", "require_auth = false");
    let dir = tempfile::tempdir().unwrap();
    let secret = "an HS256 secret that is long enough for the test";
    std::fs::write(dir.path().join("hs.secret"), format!("{secret}\n")).unwrap();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(dir.path().join("ec.pub.pem"), ec.public_key_pem()).unwrap();
    let rsa_pub = repo_root().join("tests/fixtures/jwt/rs256-public.pem");
    let rsa_priv = std::fs::read(repo_root().join("tests/fixtures/jwt/rs256-private.pem")).unwrap();
    let config = format!(
        r#"
[auth]
required = true
policy_headers = ["x-trace"]

[[auth.api_keys]]
name = "k1"
sha256 = "{key}"
tenant = "acme"

[auth.jwt]
issuer = "https://id.test"
audience = "edgeserve"
leeway = "5s"

[[auth.jwt.keys]]
algorithm = "HS256"
secret_file = "{hs}"

[[auth.jwt.keys]]
algorithm = "RS256"
kid = "rsa1"
public_key = "{rsa}"

[[auth.jwt.keys]]
algorithm = "ES256"
kid = "ec1"
public_key = "{ec}"

[[policies]]
policy = "tag"
"#,
        key = hash("key-one-0123456789"),
        hs = dir.path().join("hs.secret").display(),
        rsa = rsa_pub.display(),
        ec = dir.path().join("ec.pub.pem").display(),
    );
    let s = start(&repo, dir.path(), &config);
    let c = client();
    let body = x_body(&[1.0], json!({}));
    let hs = EncodingKey::from_secret(secret.as_bytes());
    let rs = EncodingKey::from_rsa_pem(&rsa_priv).unwrap();
    let es = EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap();
    let bearer = |t: &str| format!("Bearer {t}");

    // No credentials on a model that requires them.
    let a = post(&c, &s, "m", &body, &[]);
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.headers.get("www-authenticate").is_some());
    // ...but a model may opt out.
    assert_eq!(post(&c, &s, "open", &body, &[]).status, 200);

    // API keys.
    let a = post(
        &c,
        &s,
        "m",
        &body,
        &[
            ("x-api-key", "key-one-0123456789"),
            ("x-trace", "t-1"),
            ("x-hidden", "no"),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(s.wait_for_log(
        "rogue saw tenant=acme principal=k1 method=api-key model=m@1 headers=x-trace=t-1 client=127.0.0.1:",
        Duration::from_secs(5)
    ), "{}", s.log());
    let a = post(&c, &s, "m", &body, &[("x-api-key", "not-a-key")]);
    assert_eq!(a.status, 401);
    assert!(error(&a).contains("unknown API key"), "{}", error(&a));

    // JWTs: valid with each algorithm...
    for (alg, kid, key, sub) in [
        (Algorithm::HS256, None, &hs, "alice"),
        (Algorithm::RS256, Some("rsa1"), &rs, "bob"),
        (Algorithm::ES256, Some("ec1"), &es, "carol"),
    ] {
        let t = jwt(alg, kid, key, claims(sub, now_plus(300)));
        let a = post(&c, &s, "m", &body, &[("authorization", &bearer(&t))]);
        assert_eq!(a.status, 200, "{alg:?}: {}", a.body);
        assert!(s.wait_for_log(
            &format!("rogue saw tenant=acme principal={sub} method=jwt"),
            Duration::from_secs(5)
        ));
    }
    // ...and refused for every way a token can be wrong.
    let mut nbf = claims("dave", now_plus(300));
    nbf["nbf"] = json!(now_plus(600));
    let mut aud = claims("dave", now_plus(300));
    aud["aud"] = json!("someone-else");
    let mut iss = claims("dave", now_plus(300));
    iss["iss"] = json!("https://evil.test");
    let mut no_exp = claims("dave", 0);
    no_exp.as_object_mut().unwrap().remove("exp");
    let other = EncodingKey::from_secret(b"a different secret, also long enough!!");
    let cases = [
        (
            jwt(Algorithm::HS256, None, &hs, claims("dave", now_plus(-120))),
            "expired",
        ),
        (jwt(Algorithm::HS256, None, &hs, nbf), "not valid yet"),
        (jwt(Algorithm::HS256, None, &hs, aud), "audience"),
        (jwt(Algorithm::HS256, None, &hs, iss), "issuer"),
        (jwt(Algorithm::HS256, None, &hs, no_exp), "'exp'"),
        (
            jwt(
                Algorithm::HS256,
                None,
                &other,
                claims("dave", now_plus(300)),
            ),
            "signature",
        ),
        (
            jwt(
                Algorithm::RS256,
                Some("unknown"),
                &rs,
                claims("dave", now_plus(300)),
            ),
            "no key accepts",
        ),
        (
            jwt(Algorithm::HS384, None, &hs, claims("dave", now_plus(300))),
            "no key accepts",
        ),
        ("not.a.jwt".to_string(), "not a well-formed JWT"),
    ];
    for (token, why) in &cases {
        let a = post(&c, &s, "m", &body, &[("authorization", &bearer(token))]);
        assert_eq!(a.status, 401, "{why}: {}", a.body);
        assert!(error(&a).contains(why), "{why}: {}", error(&a));
        assert!(a.headers.get("www-authenticate").is_some());
    }
    let a = post(
        &c,
        &s,
        "m",
        &body,
        &[("authorization", "Basic dXNlcjpwYXNz")],
    );
    assert_eq!(a.status, 401);

    // Every failure is audited, and no credential reaches the log.
    let audit = audit_lines(&s, "only the Bearer scheme");
    let failures = audit
        .iter()
        .filter(|l| l.contains("event=\"auth_failure\""))
        .count();
    assert!(failures >= cases.len() + 2, "{audit:#?}");
    assert!(
        audit
            .iter()
            .any(|l| l.contains("method=\"jwt\"") && l.contains("expired"))
    );
    assert!(
        audit
            .iter()
            .any(|l| l.contains("event=\"deny\"") && l.contains("status=401"))
    );
    let log = s.log();
    assert!(!log.contains("key-one-0123456789") && !log.contains("not-a-key"));
    for (token, _) in &cases[..6] {
        assert!(!log.contains(token.as_str()));
    }
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
fn tenants_access_and_quotas() {
    let repo = Repo::new().unwrap();
    add_echo(&repo, "m", "");
    add_echo(&repo, "n", "");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[[auth.api_keys]]
name = "acme-svc"
sha256 = "{}"
tenant = "acme"

[[auth.api_keys]]
name = "loose-svc"
sha256 = "{}"

[[tenants]]
name = "acme"
models = ["m"]
rate = 0.5
burst = 2
"#,
        hash("acme-key-0123456789"),
        hash("loose-key-0123456789")
    );
    let s = start(&repo, dir.path(), &config);
    let c = client();
    let body = x_body(&[1.0], json!({}));
    let acme = [("x-api-key", "acme-key-0123456789")];

    let a = post(&c, &s, "n", &body, &acme);
    assert_eq!(a.status, 403);
    assert!(
        error(&a).contains("may not call model 'n'"),
        "{}",
        error(&a)
    );
    // A key that maps to no tenant does not skip the tenant rules.
    let a = post(&c, &s, "m", &body, &[("x-api-key", "loose-key-0123456789")]);
    assert_eq!(a.status, 403);
    assert!(error(&a).contains("maps to no tenant"), "{}", error(&a));
    // A burst of 2, then one request every 2 s.
    assert_eq!(post(&c, &s, "m", &body, &acme).status, 200);
    assert_eq!(post(&c, &s, "m", &body, &acme).status, 200);
    let a = post(&c, &s, "m", &body, &acme);
    assert_eq!(a.status, 429, "{}", a.body);
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(error(&a).contains("quota"));
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(post(&c, &s, "m", &body, &acme).status, 200);
    // Anonymous callers are not a tenant, so they are refused (and told to
    // authenticate), never let past the quota.
    for _ in 0..3 {
        let a = post(&c, &s, "m", &body, &[]);
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(a.headers.contains_key("www-authenticate"));
    }
    let audit = audit_lines(&s, "status=429");
    assert!(
        audit
            .iter()
            .any(|l| l.contains("status=429") && l.contains("tenant=\"acme\"")),
        "{audit:#?}"
    );
    assert!(
        audit
            .iter()
            .any(|l| l.contains("status=403") && l.contains("principal=\"loose-svc\""))
    );
}

#[test]
fn hostile_policies_fail_closed_unless_bound_fail_open() {
    let repo = Repo::new().unwrap();
    add_policy(&repo, "rogue", components::ROGUE_POLICY, "mode = \"allow\"");
    add_policy(
        &repo,
        "rogue-open",
        components::ROGUE_POLICY,
        "mode = \"allow\"",
    );
    add_policy(
        &repo,
        "rogue-after",
        components::ROGUE_POLICY,
        "mode = \"allow\"\nstage = \"response\"",
    );
    add_policy(
        &repo,
        "double-a",
        components::ROGUE_POLICY,
        "mode = \"double\"\nstage = \"request\"",
    );
    add_policy(
        &repo,
        "double-b",
        components::ROGUE_POLICY,
        "mode = \"double\"\nstage = \"request\"",
    );
    add_echo(&repo, "m", "[[policies]]\npolicy = \"rogue\"");
    add_echo(
        &repo,
        "n",
        "[[policies]]\npolicy = \"rogue-open\"\nfail_open = true",
    );
    add_echo(&repo, "r", "[[policies]]\npolicy = \"rogue-after\"");
    add_echo(
        &repo,
        "d",
        "[[policies]]\npolicy = \"double-a\"\n[[policies]]\npolicy = \"double-b\"",
    );
    add_echo(&repo, "ghost", "[[policies]]\npolicy = \"missing\"");
    let dir = tempfile::tempdir().unwrap();
    let s = start(&repo, dir.path(), "");
    let c = client();
    let mode = |m: &str| x_body(&[1.5], json!({"policy_mode": m}));

    let a = post(&c, &s, "m", &mode("allow"), &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    for (m, status, says) in [
        ("deny", 403, "rogue says no"),
        ("loop", 503, "deadline"),
        ("trap", 503, "rogue trap"),
        ("alloc", 503, "memory"),
        ("huge", 503, "rogue@1"),
        ("bad-status", 403, "not an error status"),
        ("bad-rewrite", 403, "does not fit its shape"),
    ] {
        let a = post(&c, &s, "m", &mode(m), &[]);
        assert_eq!(a.status, status, "{m}: {}", a.body);
        assert!(error(&a).contains("rogue@1"), "{m}: {}", error(&a));
        assert!(error(&a).contains(says), "{m}: {}", error(&a));
        // The host and the policy's other requests are unharmed.
        assert_eq!(
            post(&c, &s, "m", &mode("allow"), &[]).status,
            200,
            "after {m}"
        );
    }
    // The response hook, after the model ran: deny, fail, rewrite.
    assert_eq!(post(&c, &s, "r", &mode("deny"), &[]).status, 403);
    assert_eq!(post(&c, &s, "r", &mode("trap"), &[]).status, 503);
    let a = post(&c, &s, "r", &mode("double"), &[]);
    assert_eq!(a.status, 200);
    assert_eq!(output(&a.body, "y")["data"][0].as_f64(), Some(3.0));
    // Fail-open lets requests through a failing policy, and says so.
    for m in ["loop", "trap", "bad-status"] {
        let a = post(&c, &s, "n", &mode(m), &[]);
        assert_eq!(a.status, 200, "{m}: {}", a.body);
    }
    assert!(s.log().contains("fail-open"));
    // A deny is a decision, not a failure: fail-open does not override it.
    assert_eq!(post(&c, &s, "n", &mode("deny"), &[]).status, 403);
    // Rewrites feed the next stage: x doubled twice reaches the model.
    let a = post(&c, &s, "d", &x_body(&[1.5, -2.0], json!({})), &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(output(&a.body, "y")["data"], json!([6.0, -8.0]));
    // A chain naming a policy that is not deployed fails closed.
    let a = post(&c, &s, "ghost", &x_body(&[1.0], json!({})), &[]);
    assert_eq!(a.status, 503);
    assert!(
        error(&a).contains("'missing' is not deployed"),
        "{}",
        error(&a)
    );

    let st = admin_status(&c, &s, "rogue");
    let d = &st["versions"][0]["policy_decisions"];
    assert!(d["failed"].as_u64().unwrap() >= 6, "{st}");
    assert!(d["denied"].as_u64().unwrap() >= 1, "{st}");
    let st = admin_status(&c, &s, "m");
    assert_eq!(st["versions"][0]["errors"], 0, "{st}");
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
}

//! Policy plugins and tenants, in-process: the example policies in chains,
//! identity from API keys and HS256/RS256/ES256 JWTs, tenant access and
//! quotas, hostile policies failing closed (or open), rewrites feeding the
//! next stage, and the audit log. TLS client certificates and policy
//! versions deployed through the admin API and CLI: `cli/tests/policies.rs`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod app;

use app::App;
use edgeserve_test_support::{Repo, components, repo_root, tempfile};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A policy version folder with its `config`.
fn add_policy(repo: &Repo, name: &str, component: &str, config: &str) {
    repo.add_policy(name, component, config).unwrap();
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

struct Answer {
    status: u16,
    body: Value,
    headers: http::HeaderMap,
}

fn post(s: &App, model: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let r = s.post_with(&format!("/v2/models/{model}/infer"), body, headers);
    Answer {
        status: r.status,
        body: r.json(),
        headers: r.headers,
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

fn admin_status(s: &App, name: &str) -> Value {
    s.model_status(name)
}

/// The audit lines of the server's log, once `last` (the line expected
/// last) has arrived.
fn audit_lines(s: &App, last: &str) -> Vec<String> {
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
    let s = App::start(&repo, &config);
    let acme = [("x-api-key", "acme-key-0123456789")];
    let globex = [("authorization", "Bearer globex-key-0123456789")];

    // Allowed, guarded, then shaped: top-2 rounded scores with class names.
    let a = post(&s, "iris", &iris_body(&[[5.1, 3.5, 1.4, 0.2]]), &acme);
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
    let a = post(&s, "iris", &iris_body(&[[5.1, 3.5, 1.4, 0.2]]), &globex);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(error(&a).contains("tenant-access@1"), "{}", error(&a));
    assert!(error(&a).contains("globex"), "{}", error(&a));
    let a = post(&s, "iris", &iris_body(&[[5.1, 3.5, 1.4, 0.2]]), &[]);
    assert_eq!(a.status, 403, "{}", a.body);

    // Input guard: out of range, batch too large, NaN (binary tensor data,
    // as JSON cannot carry NaN).
    let a = post(&s, "iris", &iris_body(&[[5.1, 11.0, 1.4, 0.2]]), &acme);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        error(&a).contains("input-guard@1") && error(&a).contains("outside"),
        "{}",
        error(&a)
    );
    let rows = [[1.0, 1.0, 1.0, 1.0]; 3];
    let a = post(&s, "iris", &iris_body(&rows), &acme);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(error(&a).contains("batch"), "{}", error(&a));
    let header = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}).to_string();
    let mut body = header.clone().into_bytes();
    for v in [5.1f32, f32::NAN, 1.4, 0.2] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let len = header.len().to_string();
    let r = s.call(
        "POST",
        "/v2/models/iris/infer",
        &[
            ("x-api-key", "acme-key-0123456789"),
            ("inference-header-content-length", &len),
            ("content-type", "application/octet-stream"),
        ],
        body,
    );
    assert_eq!(r.status, 400);
    let text = r.text();
    assert!(text.contains("NaN"), "{text}");

    // Redaction on a model built for WIT 0.1.0, anonymous caller allowed.
    let secret = "mail bob.smith@example.com or call +1 415-555-0100, card 4111 1111 1111 1111";
    let body = json!({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": [secret, "nothing here"]}]});
    let a = post(&s, "legacy-echo", &body, &[]);
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
    let a = post(&s, "tenant-access", &iris_body(&[[1.0; 4]]), &acme);
    assert_eq!(a.status, 404);
    assert!(
        error(&a).starts_with("unknown model 'tenant-access'; "),
        "{}",
        error(&a)
    );
    assert!(!error(&a).contains("policy"), "{}", error(&a));

    // Decisions are counted per policy version.
    let st = admin_status(&s, "tenant-access");
    let d = &st["versions"][0]["policy_decisions"];
    assert!(d["denied"].as_u64().unwrap() >= 2, "{st}");
    assert!(d["allowed"].as_u64().unwrap() >= 4, "{st}");
    let st = admin_status(&s, "pii-redaction");
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
    let s = App::start(&repo, &config);
    let body = x_body(&[1.0], json!({}));
    let hs = EncodingKey::from_secret(secret.as_bytes());
    let rs = EncodingKey::from_rsa_pem(&rsa_priv).unwrap();
    let es = EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap();
    let bearer = |t: &str| format!("Bearer {t}");

    // No credentials on a model that requires them.
    let a = post(&s, "m", &body, &[]);
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.headers.get("www-authenticate").is_some());
    // ...but a model may opt out.
    assert_eq!(post(&s, "open", &body, &[]).status, 200);

    // API keys.
    let a = post(
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
    let a = post(&s, "m", &body, &[("x-api-key", "not-a-key")]);
    assert_eq!(a.status, 401);
    assert!(error(&a).contains("unknown API key"), "{}", error(&a));

    // JWTs: valid with each algorithm...
    for (alg, kid, key, sub) in [
        (Algorithm::HS256, None, &hs, "alice"),
        (Algorithm::RS256, Some("rsa1"), &rs, "bob"),
        (Algorithm::ES256, Some("ec1"), &es, "carol"),
    ] {
        let t = jwt(alg, kid, key, claims(sub, now_plus(300)));
        let a = post(&s, "m", &body, &[("authorization", &bearer(&t))]);
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
        let a = post(&s, "m", &body, &[("authorization", &bearer(token))]);
        assert_eq!(a.status, 401, "{why}: {}", a.body);
        assert!(error(&a).contains(why), "{why}: {}", error(&a));
        assert!(a.headers.get("www-authenticate").is_some());
    }
    let a = post(&s, "m", &body, &[("authorization", "Basic dXNlcjpwYXNz")]);
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

#[test]
fn tenants_access_and_quotas() {
    let repo = Repo::new().unwrap();
    add_echo(&repo, "m", "");
    add_echo(&repo, "n", "");
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
    let s = App::start(&repo, &config);
    let body = x_body(&[1.0], json!({}));
    let acme = [("x-api-key", "acme-key-0123456789")];

    let a = post(&s, "n", &body, &acme);
    assert_eq!(a.status, 403);
    assert!(
        error(&a).contains("may not call model 'n'"),
        "{}",
        error(&a)
    );
    // A key that maps to no tenant does not skip the tenant rules.
    let a = post(&s, "m", &body, &[("x-api-key", "loose-key-0123456789")]);
    assert_eq!(a.status, 403);
    assert!(error(&a).contains("maps to no tenant"), "{}", error(&a));
    // A burst of 2, then one request every 2 s.
    assert_eq!(post(&s, "m", &body, &acme).status, 200);
    assert_eq!(post(&s, "m", &body, &acme).status, 200);
    let a = post(&s, "m", &body, &acme);
    assert_eq!(a.status, 429, "{}", a.body);
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(error(&a).contains("quota"));
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(post(&s, "m", &body, &acme).status, 200);
    // Anonymous callers are not a tenant, so they are refused (and told to
    // authenticate), never let past the quota.
    for _ in 0..3 {
        let a = post(&s, "m", &body, &[]);
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
    let s = App::start(&repo, "");
    let mode = |m: &str| x_body(&[1.5], json!({"policy_mode": m}));

    let a = post(&s, "m", &mode("allow"), &[]);
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
        let a = post(&s, "m", &mode(m), &[]);
        assert_eq!(a.status, status, "{m}: {}", a.body);
        assert!(error(&a).contains("rogue@1"), "{m}: {}", error(&a));
        assert!(error(&a).contains(says), "{m}: {}", error(&a));
        // The host and the policy's other requests are unharmed.
        assert_eq!(post(&s, "m", &mode("allow"), &[]).status, 200, "after {m}");
    }
    // The response hook, after the model ran: deny, fail, rewrite.
    assert_eq!(post(&s, "r", &mode("deny"), &[]).status, 403);
    assert_eq!(post(&s, "r", &mode("trap"), &[]).status, 503);
    let a = post(&s, "r", &mode("double"), &[]);
    assert_eq!(a.status, 200);
    assert_eq!(output(&a.body, "y")["data"][0].as_f64(), Some(3.0));
    // Fail-open lets requests through a failing policy, and says so.
    for m in ["loop", "trap", "bad-status"] {
        let a = post(&s, "n", &mode(m), &[]);
        assert_eq!(a.status, 200, "{m}: {}", a.body);
    }
    assert!(s.log().contains("fail-open"));
    // A deny is a decision, not a failure: fail-open does not override it.
    assert_eq!(post(&s, "n", &mode("deny"), &[]).status, 403);
    // Rewrites feed the next stage: x doubled twice reaches the model.
    let a = post(&s, "d", &x_body(&[1.5, -2.0], json!({})), &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(output(&a.body, "y")["data"], json!([6.0, -8.0]));
    // A chain naming a policy that is not deployed fails closed.
    let a = post(&s, "ghost", &x_body(&[1.0], json!({})), &[]);
    assert_eq!(a.status, 503);
    assert!(
        error(&a).contains("'missing' is not deployed"),
        "{}",
        error(&a)
    );

    let st = admin_status(&s, "rogue");
    let d = &st["versions"][0]["policy_decisions"];
    assert!(d["failed"].as_u64().unwrap() >= 6, "{st}");
    assert!(d["denied"].as_u64().unwrap() >= 1, "{st}");
    let st = admin_status(&s, "m");
    assert_eq!(st["versions"][0]["errors"], 0, "{st}");
}

/// A policy built for WIT 0.1.1 (`tests/components/legacy-policy`) runs in
/// chains beside 0.2 policies, on models of both versions: it sees every
/// tensor (0.1 policies declare nothing, so they read everything), and its
/// denials and rewrites (BYTES elements included) are the host's.
#[test]
fn policies_built_for_wit_0_1_run_beside_0_2_ones() {
    let repo = Repo::new().unwrap();
    add_policy(&repo, "legacy-policy", components::LEGACY_POLICY, "");
    add_policy(&repo, "pii-redaction", components::PII_REDACTION, "");
    add_iris(
        &repo,
        "[[policies]]\npolicy = \"legacy-policy\"\nstages = [\"request\"]",
    );
    // A 0.1.0 model behind a 0.2 policy, then a 0.1.1 one (response order).
    repo.add(
        "legacy-echo",
        "1",
        components::LEGACY_ECHO,
        "[[policies]]\npolicy = \"pii-redaction\"\n[[policies]]\npolicy = \"legacy-policy\"\n",
    )
    .unwrap();
    let s = App::start(&repo, "");

    // Iris (0.2) behind the 0.1.1 policy: allowed, answered as ever.
    let a = post(&s, "iris", &iris_body(&[[5.1, 3.5, 1.4, 0.2]]), &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(output(&a.body, "label")["data"][0], "setosa", "{}", a.body);
    // Denied with the policy's own status; its reason lists what it saw.
    let mut body = iris_body(&[[5.1, 3.5, 1.4, 0.2], [6.0, 3.0, 4.5, 1.5]]);
    body["parameters"] = json!({"legacy": "deny"});
    let a = post(&s, "iris", &body, &[]);
    assert_eq!(a.status, 451, "{}", a.body);
    assert!(
        error(&a).contains("legacy-policy@1")
            && error(&a).contains("legacy saw tenant=- inputs=input:Datatype::Fp32:[2, 4]:32"),
        "{}",
        error(&a)
    );

    // The 0.1.0 echo: the 0.2 redaction runs first, then the 0.1.1 policy
    // upper-cases the BYTES output and adds a parameter.
    let body = json!({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["mail bob@example.com", "quiet"]}]});
    let a = post(&s, "legacy-echo", &body, &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        output(&a.body, "text")["data"],
        json!(["MAIL [EMAIL]", "QUIET"]),
        "{}",
        a.body
    );
    assert_eq!(a.body["parameters"]["legacy_saw"], 1, "{}", a.body);
}

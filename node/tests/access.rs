//! Attacks on who may call what, performed against a node in-process: pinning
//! an older version to step around the model's identity requirement and
//! policies, callers that map to no tenant, malformed tenant claims, and
//! the metadata and readiness routes. Each test also checks that honest
//! callers are still served.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod app;

use app::App;
use edgeserve_test_support::{Repo, components, tempfile};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
const SECRET: &str = "a shared secret of at least thirty-two bytes";

/// The echo fixture as `name@version`, with extra manifest text.
fn add_echo(repo: &Repo, name: &str, version: &str, extra: &str) {
    let manifest = format!("{extra}\n[config]\nmode = \"echo\"\noffset = \"{version}\"\n");
    repo.add(name, version, components::FAULTY, &manifest)
        .unwrap();
}

fn add_deny_policy(repo: &Repo) {
    let manifest = "kind = \"policy\"\n[config]\nmode = \"deny\"\nstatus = \"403\"\n";
    repo.add("deny-all", "1", components::ROGUE_POLICY, manifest)
        .unwrap();
}

/// Sends `method path` with headers (and the echo body for POSTs);
/// returns the status and the JSON body.
fn call(s: &App, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    match method {
        "POST" => s.post_with(
            path,
            &json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}),
            headers,
        ),
        _ => s.call(method, path, headers, ""),
    }
    .pair()
}

fn error(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

fn api_key(name: &str, key: &str, tenant: Option<&str>) -> String {
    format!(
        "[[auth.api_keys]]\nname = \"{name}\"\nsha256 = \"{}\"\n{}\n",
        edgeserve_node::security::hash_api_key(key),
        tenant
            .map(|t| format!("tenant = \"{t}\""))
            .unwrap_or_default()
    )
}

#[test]
fn pinning_an_older_version_cannot_step_around_identity_or_policies() {
    let repo = Repo::new().unwrap();
    add_deny_policy(&repo);
    // v1 asked for nothing; v2 (the primary) requires an identity and binds
    // a policy that denies everything.
    add_echo(&repo, "m", "1", "require_auth = false");
    add_echo(
        &repo,
        "m",
        "2",
        "require_auth = true\n[[policies]]\npolicy = \"deny-all\"\nstages = [\"request\"]",
    );
    add_echo(&repo, "open", "1", "");
    let s = App::start(&repo, &api_key("svc", "svc-key-0123456789", None));
    let key = [("x-api-key", "svc-key-0123456789")];

    for path in ["/v2/models/m/versions/1/infer", "/v2/models/m/infer"] {
        let (status, body) = call(&s, "POST", path, &[]);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(error(&body).contains("requires an identity"), "{body}");
        // With an identity, the policy v2 brought runs for v1 too.
        let (status, body) = call(&s, "POST", path, &key);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(error(&body).contains("rogue says no"), "{body}");
    }
    // Metadata and readiness are behind the same identity rule.
    for path in [
        "/v2/models/m",
        "/v2/models/m/versions/1",
        "/v2/models/m/ready",
        "/v2/models/m/versions/1/ready",
    ] {
        let (status, body) = call(&s, "GET", path, &[]);
        assert_eq!(status, 401, "{path}: {body}");
        let (status, body) = call(&s, "GET", path, &key);
        assert_eq!(status, 200, "{path}: {body}");
    }
    // A policy is not a model on the data plane, and no answer names it.
    for (method, path) in [
        ("POST", "/v2/models/deny-all/infer"),
        ("GET", "/v2/models/deny-all"),
        ("GET", "/v2/models/deny-all/ready"),
    ] {
        let (status, body) = call(&s, method, path, &key);
        assert_eq!(status, 404, "{path}: {body}");
        // Only what this caller may call is suggested: never the policy.
        assert_eq!(
            error(&body),
            "unknown model 'deny-all'; models you may call: m, open"
        );
    }
    // Everyone else is still served.
    let (status, body) = call(&s, "POST", "/v2/models/open/infer", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(
        s.log().contains("model=\"m\"") || s.log().contains("model=m"),
        "the refusals are audited:\n{}",
        s.log()
    );
}

#[test]
fn version_pinning_serves_only_what_the_operator_allows() {
    let repo = Repo::new().unwrap();
    add_echo(&repo, "m", "1", "");
    add_echo(&repo, "m", "2", "");
    for (pinning, v1, v2) in [("all", 200, 200), ("serving", 403, 200), ("none", 403, 403)] {
        let s = App::start(
            &repo,
            &format!("[server]\nversion_pinning = \"{pinning}\"\n"),
        );
        let (status, body) = call(&s, "POST", "/v2/models/m/versions/1/infer", &[]);
        assert_eq!(status, v1, "{pinning} v1: {body}");
        if v1 == 403 {
            assert!(error(&body).contains("version_pinning"), "{body}");
        }
        let (status, body) = call(&s, "POST", "/v2/models/m/versions/2/infer", &[]);
        assert_eq!(status, v2, "{pinning} v2: {body}");
        // The unversioned route always serves the primary.
        let (status, body) = call(&s, "POST", "/v2/models/m/infer", &[]);
        assert_eq!(status, 200, "{pinning}: {body}");
        assert_eq!(body["outputs"][0]["data"][0], 3.0, "{body}");
    }
}

fn now_plus(secs: u64) -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs
}

fn bearer(claims: Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let token = jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap();
    format!("Bearer {token}")
}

#[test]
fn callers_without_a_tenant_never_skip_the_tenant_rules() {
    let repo = Repo::new().unwrap();
    add_echo(&repo, "m", "1", "");
    add_echo(&repo, "n", "1", "");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hs256.secret");
    std::fs::write(&secret, SECRET).unwrap();
    let tenants = format!(
        "[auth.jwt]\n[[auth.jwt.keys]]\nalgorithm = \"HS256\"\nsecret_file = \"{}\"\n\n\
         [[tenants]]\nname = \"acme\"\nmodels = [\"m\", \"n\"]\n\n\
         [[tenants]]\nname = \"public\"\nmodels = [\"m\"]\nrate = 0.2\nburst = 2\n",
        secret.display()
    );
    let s = App::start(&repo, &tenants);
    let exp = now_plus(300);
    let acme = bearer(json!({"sub": "alice", "tenant": "acme", "exp": exp}));
    let (status, body) = call(
        &s,
        "POST",
        "/v2/models/n/infer",
        &[("authorization", &acme)],
    );
    assert_eq!(status, 200, "{body}");

    // A valid token without a tenant claim: refused, not waved through.
    let loose = bearer(json!({"sub": "mallory", "exp": exp}));
    let (status, body) = call(
        &s,
        "POST",
        "/v2/models/m/infer",
        &[("authorization", &loose)],
    );
    assert_eq!(status, 403, "{body}");
    assert!(error(&body).contains("maps to no tenant"), "{body}");
    // A tenant claim that is there but not a string: refused as malformed.
    for bad in [
        json!(42),
        json!(["acme"]),
        json!({"name": "acme"}),
        json!(""),
    ] {
        let t = bearer(json!({"sub": "mallory", "tenant": bad, "exp": exp}));
        let (status, body) = call(&s, "POST", "/v2/models/m/infer", &[("authorization", &t)]);
        assert_eq!(status, 401, "{bad}: {body}");
        assert!(error(&body).contains("'tenant' claim"), "{body}");
    }
    // Anonymous callers: no tenant, so refused with a challenge.
    let (status, body) = call(&s, "POST", "/v2/models/m/infer", &[]);
    assert_eq!(status, 401, "{body}");
    drop(s);

    // With a default tenant, tenantless callers get its rules: its models
    // and its quota.
    let config = tenants.replace(
        "[auth.jwt]",
        "[auth]\ndefault_tenant = \"public\"\n\n[auth.jwt]",
    );
    let s = App::start(&repo, &config);
    let (status, body) = call(&s, "POST", "/v2/models/n/infer", &[]);
    assert_eq!(status, 403, "{body}");
    assert!(
        error(&body).contains("tenant 'public' may not call model 'n'"),
        "{body}"
    );
    let (status, _) = call(
        &s,
        "POST",
        "/v2/models/m/infer",
        &[("authorization", &loose)],
    );
    assert_eq!(status, 200);
    let (status, _) = call(&s, "POST", "/v2/models/m/infer", &[]);
    assert_eq!(status, 200);
    let (status, body) = call(&s, "POST", "/v2/models/m/infer", &[]);
    assert_eq!(status, 429, "the default tenant's quota: {body}");
    // Its own tenant still serves the caller that has one.
    let (status, body) = call(
        &s,
        "POST",
        "/v2/models/n/infer",
        &[("authorization", &acme)],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        s.wait_for_log("tenant=\"public\"", Duration::from_secs(5)),
        "refusals name the tenant whose rules applied:\n{}",
        s.log()
    );
}

#[test]
fn an_api_key_naming_an_unknown_tenant_is_a_start_up_error() {
    let repo = Repo::new().unwrap();
    add_echo(&repo, "m", "1", "");
    let config = format!(
        "{}\n[[tenants]]\nname = \"acme\"\n",
        api_key("svc", "svc-key-0123456789", Some("acmee"))
    );
    let Err(err) = App::try_start(&repo, &config) else {
        panic!("a typo in a key's tenant must stop the start")
    };
    assert!(
        err.contains("'svc' names tenant 'acmee', which is not one of the [[tenants]]"),
        "{err}"
    );
}

#[test]
fn a_model_version_under_a_policy_name_is_refused_at_start() {
    let repo = Repo::new().unwrap();
    add_deny_policy(&repo);
    // Someone drops a model component in as deny-all@2: were it loaded,
    // it would become the "policy" and answer for it.
    add_echo(&repo, "deny-all", "2", "");
    add_echo(
        &repo,
        "m",
        "1",
        "[[policies]]\npolicy = \"deny-all\"\nstages = [\"request\"]",
    );
    let s = App::start(&repo, "");
    // The policy still runs, from its only policy version.
    let (status, body) = call(&s, "POST", "/v2/models/m/infer", &[]);
    assert_eq!(status, 403, "{body}");
    assert!(error(&body).contains("rogue says no"), "{body}");
    // And the model component is not served under the policy's name.
    let (status, body) = call(&s, "POST", "/v2/models/deny-all/infer", &[]);
    assert_eq!(status, 404, "{body}");
    assert!(
        s.log().contains("a name holds one kind"),
        "the refusal is logged:\n{}",
        s.log()
    );
}

#[test]
fn a_binding_to_a_missing_policy_is_reported_at_start() {
    let repo = Repo::new().unwrap();
    add_echo(
        &repo,
        "m",
        "1",
        "[[policies]]\npolicy = \"deny-al\"\nstages = [\"request\"]",
    );
    add_deny_policy(&repo);
    let s = App::start(&repo, "[[policies]]\npolicy = \"nope\"\n");
    let log = s.log();
    assert!(
        log.contains(
            "model m@1 binds policy 'deny-al', which is not deployed (policies here: \
             deny-all); every request to m will be refused (503) until it is"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "the configuration's [[policies]] binds policy 'nope', which is not deployed \
             (policies here: deny-all); every request will be refused (503)"
        ),
        "{log}"
    );
}

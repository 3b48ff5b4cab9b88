//! The OIP REST surface driven in-process (no socket, no process): health,
//! metadata, readiness, routes and methods, and every protocol error a
//! client can hit. End-to-end scoring over real sockets and clients is in
//! `cli/tests/serving.rs` and `tritonclient.rs`.

mod app;

use app::App;
use edgeserve_test_support::Repo;
use serde_json::json;

#[test]
fn health_metadata_and_readiness() {
    let repo = Repo::examples().unwrap();
    let app = App::start(&repo, "");
    assert_eq!(
        app.get("/v2/health/live").pair(),
        (200, json!({"live": true}))
    );
    assert_eq!(
        app.get("/v2/health/ready").pair(),
        (200, json!({"ready": true}))
    );
    let (st, meta) = app.get("/v2").pair();
    assert_eq!(st, 200);
    assert_eq!(meta["name"], "edgeserve");
    assert!(
        meta["extensions"]
            .as_array()
            .unwrap()
            .contains(&json!("binary_tensor_data"))
    );

    for path in ["/v2/models/iris", "/v2/models/iris/versions/1"] {
        let (st, m) = app.get(path).pair();
        assert_eq!(st, 200, "{path}");
        assert_eq!(m["name"], "iris");
        assert_eq!(m["versions"], json!(["1"]));
        assert_eq!(m["platform"], "rust");
        assert_eq!(
            m["inputs"],
            json!([{"name": "input", "datatype": "FP32", "shape": [-1, 4]}])
        );
        assert_eq!(
            m["outputs"][1],
            json!({"name": "label", "datatype": "BYTES", "shape": [-1]})
        );
    }
    for path in [
        "/v2/models/sentiment/ready",
        "/v2/models/sentiment/versions/1/ready",
    ] {
        let (st, m) = app.get(path).pair();
        assert_eq!((st, &m["ready"]), (200, &json!(true)), "{path}");
    }
    for path in [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        "/v2/models/iris/versions/7",
        "/v2/models/iris/versions/7/ready",
        "/v2/models/iris/versions/x",
        "/v2/elsewhere",
    ] {
        let (st, m) = app.get(path).pair();
        assert_eq!(st, 404, "{path}");
        assert!(m["error"].as_str().unwrap().len() > 5, "{path}: {m}");
    }
    let r = app.call("DELETE", "/v2/models/iris", &[], "");
    assert_eq!(r.status, 405);
}

#[test]
fn bad_requests_get_protocol_errors() {
    let repo = Repo::examples().unwrap();
    let app = App::start(&repo, "[server]\nmax_body = \"4KiB\"\n");
    let iris = "/v2/models/iris/infer";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed json", "{\"inputs\": [".into(), 400, "malformed"),
        ("not an object", "[1,2,3]".into(), 400, "malformed"),
        (
            "wrong datatype",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}).to_string(),
            400,
            "must be FP32",
        ),
        (
            "unknown datatype",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FLOAT", "data": [1, 2, 3, 4]}]}).to_string(),
            400,
            "unknown datatype",
        ),
        (
            "wrong shape",
            json!({"inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}]}).to_string(),
            400,
            "shape",
        ),
        (
            "count mismatch",
            json!({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).to_string(),
            400,
            "needs 8 elements",
        ),
        (
            "unknown input",
            json!({"inputs": [{"name": "petals", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}).to_string(),
            400,
            "unexpected input",
        ),
        ("missing input", json!({"inputs": []}).to_string(), 400, "missing input"),
        (
            "unknown output",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                   "outputs": [{"name": "colour"}]}).to_string(),
            400,
            "unknown output",
        ),
        (
            "string in numbers",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, "2", 3, 4]}]}).to_string(),
            400,
            "string",
        ),
        ("too large", format!("{{\"pad\": \"{}\"}}", "x".repeat(8 * 1024)), 413, "larger than"),
    ];
    for (what, body, status, needle) in cases {
        let r = app.call("POST", iris, &[], body);
        assert_eq!(r.status, status, "{what}");
        assert_eq!(
            r.headers["content-type"].to_str().unwrap(),
            "application/json",
            "{what}"
        );
        let v = r.json();
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{what}: {msg}");
    }
    let (st, v) = app
        .post_json("/v2/models/nope/infer", &json!({"inputs": []}))
        .pair();
    assert_eq!(st, 404, "{v}");
    let (st, v) = app
        .post_json("/v2/models/iris/versions/9/infer", &json!({"inputs": []}))
        .pair();
    assert_eq!(st, 404, "{v}");
    let r = app.call(
        "POST",
        iris,
        &[("Inference-Header-Content-Length", "lots")],
        "{}",
    );
    assert_eq!(r.status, 400);
    let r = app.call("POST", iris, &[("Content-Encoding", "gzip")], "{}");
    assert_eq!(r.status, 415);
    // The node is still healthy after all of that.
    assert_eq!(app.get("/v2/health/live").status, 200);
}

#[test]
fn inference_answers_in_json_and_binary() {
    let repo = Repo::examples().unwrap();
    let app = App::start(&repo, "");
    let body = json!({"id": "r1", "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                      "data": [5.1, 3.5, 1.4, 0.2]}]});
    let (st, v) = app.post_json("/v2/models/iris/infer", &body).pair();
    assert_eq!(st, 200, "{v}");
    assert_eq!((&v["model_name"], &v["id"]), (&json!("iris"), &json!("r1")));
    assert_eq!(v["outputs"][1]["data"], json!(["setosa"]));
    // The same request with its input as binary tensor data, and the
    // label asked for in binary.
    let header = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                        "parameters": {"binary_data_size": 16}}],
                        "outputs": [{"name": "label", "parameters": {"binary_data": true}}]})
    .to_string();
    let mut payload = header.clone().into_bytes();
    for x in [5.1f32, 3.5, 1.4, 0.2] {
        payload.extend_from_slice(&x.to_le_bytes());
    }
    let len = header.len().to_string();
    let r = app.call(
        "POST",
        "/v2/models/iris/infer",
        &[("Inference-Header-Content-Length", &len)],
        payload,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let json_len: usize = r.headers["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (head, tail) = r.body.split_at(json_len);
    let head: serde_json::Value = serde_json::from_slice(head).unwrap();
    assert_eq!(head["outputs"][0]["name"], "label", "{head}");
    // One BYTES element: a 4-byte little-endian length, then the text.
    assert_eq!(&tail[..4], &6u32.to_le_bytes());
    assert_eq!(&tail[4..], b"setosa");
}

#[test]
fn status_names_the_build_each_version_runs() {
    // The served name and version are the repository's; what the
    // component says it is (its metadata's name and version) is shown
    // beside them, so a build deployed under another name is visible.
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", edgeserve_test_support::components::IRIS)
        .unwrap();
    repo.add(
        "scorer",
        "7",
        edgeserve_test_support::components::FAULTY,
        "[config]\nmode = \"echo\"\n",
    )
    .unwrap();
    let app = App::start(&repo, "");
    let iris = app.model_status("iris");
    assert_eq!(iris["versions"][0]["component"], "iris@1", "{iris}");
    let scorer = app.model_status("scorer");
    assert_eq!(scorer["versions"][0]["version"], "7", "{scorer}");
    assert_eq!(scorer["versions"][0]["component"], "faulty@1", "{scorer}");
    assert!(
        app.log()
            .contains("model=scorer version=7 component=faulty@1"),
        "{}",
        app.log()
    );
}

#[test]
fn callers_discover_the_models_they_may_call() {
    let repo = Repo::examples().unwrap();
    let app = App::start(&repo, "");
    let (st, v) = app.get("/v2/models").pair();
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"models": [
            {"name": "iris", "versions": ["1"], "primary": "1"},
            {"name": "sentiment", "versions": ["1"], "primary": "1"},
        ]})
    );
    // Triton's repository index, as tritonclient reads it.
    let (st, v) = app.post_json("/v2/repository/index", &json!({})).pair();
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!([
            {"name": "iris", "version": "1", "state": "READY"},
            {"name": "sentiment", "version": "1", "state": "READY"},
        ])
    );
    assert_eq!(app.get("/v2/repository/index").status, 405);
    // A typo gets the nearest name and the list; a stranger just the list.
    let (st, v) = app.post_json("/v2/models/irsi/infer", &json!({})).pair();
    assert_eq!(st, 404);
    assert_eq!(
        v["error"],
        "unknown model 'irsi'; did you mean 'iris'? Models you may call: iris, sentiment"
    );
    let (_, v) = app.get("/v2/models/sentimnet").pair();
    assert_eq!(
        v["error"],
        "unknown model 'sentimnet'; did you mean 'sentiment'? Models you may call: iris, \
         sentiment"
    );
    let (_, v) = app.get("/v2/models/zebra/ready").pair();
    assert_eq!(
        v["error"],
        "unknown model 'zebra'; models you may call: iris, sentiment"
    );
}

#[test]
fn the_index_shows_each_caller_only_what_its_tenant_may_call() {
    let repo = Repo::examples().unwrap();
    let key = |name: &str, key: &str, tenant: &str| {
        format!(
            "[[auth.api_keys]]\nname = \"{name}\"\nsha256 = \"{}\"\ntenant = \"{tenant}\"\n",
            edgeserve_node::security::hash_api_key(key)
        )
    };
    let config = format!(
        "{}{}[[tenants]]\nname = \"acme\"\nmodels = [\"iris\"]\n\n[[tenants]]\nname = \"all\"\n",
        key("a", "acme-key-0123456789", "acme"),
        key("b", "all-key-01234567890", "all"),
    );
    let app = App::start(&repo, &config);
    let names = |headers: &[(&str, &str)]| {
        let r = app.call("GET", "/v2/models", headers, "");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&[("x-api-key", "acme-key-0123456789")]), ["iris"]);
    assert_eq!(
        names(&[("x-api-key", "all-key-01234567890")]),
        ["iris", "sentiment"]
    );
    // A tenant's typo is answered from its own list only.
    let r = app.call(
        "GET",
        "/v2/models/sentimen",
        &[("x-api-key", "acme-key-0123456789")],
        "",
    );
    assert_eq!(
        r.json()["error"],
        "unknown model 'sentimen'; models you may call: iris"
    );
    // Tenants are required here: an anonymous caller sees nothing.
    let (st, v) = app.get("/v2/models").pair();
    assert_eq!((st, &v["models"]), (200, &json!([])), "{v}");
    // Bad credentials are refused as on every route.
    let r = app.call("GET", "/v2/models", &[("x-api-key", "wrong")], "");
    assert_eq!(r.status, 401, "{}", r.text());
}

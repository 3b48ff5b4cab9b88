//! End to end: the real binary serving versions in both isolation modes
//! over keep-alive HTTP/1.1 and HTTP/2 sockets. Scoring against reference
//! outputs, the binary extension, refused versions (`scoring.rs`) and
//! health, metadata and protocol errors (`http.rs`) are checked in-process
//! in `node/tests`.

use std::time::Duration;

use edgeserve_test_support::{Repo, Server, components};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn start(repo: &Repo, extra: &[&str]) -> Server {
    let mut args = vec!["--repository", repo.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(BIN, &args).unwrap()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn post(c: &Client, s: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = c.post(s.url(path)).json(&body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

fn get(c: &Client, s: &Server, path: &str) -> (u16, Value) {
    let r = c.get(s.url(path)).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

#[test]
fn versions_isolation_modes_and_http2() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    // Version 3 of the same model, served fresh (new instance per request).
    let dir = repo.add_example("iris", "3", components::IRIS).unwrap();
    let manifest = std::fs::read_to_string(dir.join("manifest.toml")).unwrap();
    std::fs::write(
        dir.join("manifest.toml"),
        manifest.replace("isolation = \"pooled\"", "isolation = \"fresh\""),
    )
    .unwrap();
    let s = start(&repo, &[]);
    let c = client();
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [6.7, 3.0, 5.2, 2.3]}]});
    let (st, out) = post(&c, &s, "/v2/models/iris/infer", body.clone());
    assert_eq!(
        (st, &out["model_version"]),
        (200, &json!("3")),
        "highest version serves"
    );
    let (st, out) = post(&c, &s, "/v2/models/iris/versions/1/infer", body.clone());
    assert_eq!((st, &out["model_version"]), (200, &json!("1")));
    let (_, m) = get(&c, &s, "/v2/models/iris");
    assert_eq!(m["versions"], json!(["1", "3"]));
    // Many requests on one keep-alive connection, across both modes.
    for i in 0..50 {
        let path = if i % 2 == 0 {
            "/v2/models/iris/infer"
        } else {
            "/v2/models/iris/versions/1/infer"
        };
        let (st, out) = post(&c, &s, path, body.clone());
        assert_eq!(st, 200);
        assert_eq!(out["outputs"][1]["data"][0], "virginica");
    }
    // HTTP/2 without TLS (prior knowledge).
    let h2 = Client::builder().http2_prior_knowledge().build().unwrap();
    let r = h2
        .post(s.url("/v2/models/iris/infer"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status().as_u16(), 200);
}

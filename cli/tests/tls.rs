//! HTTPS with a certificate generated at test time.

use edgeserve_test_support::{Repo, Server, components};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

#[test]
fn serves_over_tls_with_http1_and_http2() {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = tempfile_dir();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();

    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let s = Server::start(
        BIN,
        &[
            "--repository",
            repo.path().to_str().unwrap(),
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(s.scheme, "https");
    let root = reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap();
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    for http2 in [false, true] {
        let mut b = reqwest::blocking::Client::builder()
            .add_root_certificate(root.clone())
            .tls_built_in_root_certs(false);
        b = if http2 {
            b.http2_prior_knowledge()
        } else {
            b.http1_only()
        };
        let c = b.build().unwrap();
        let r = c
            .post(s.url("/v2/models/iris/infer"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.version(),
            if http2 {
                reqwest::Version::HTTP_2
            } else {
                reqwest::Version::HTTP_11
            }
        );
        let v: Value = r.json().unwrap();
        assert_eq!(v["outputs"][1]["data"][0], "setosa");
    }
    // A client that does not trust the certificate cannot talk to it, and
    // the server keeps serving.
    let untrusting = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(true)
        .build()
        .unwrap();
    assert!(untrusting.get(s.url("/v2/health/live")).send().is_err());
    // Plain HTTP on the TLS port is refused, and the server keeps serving.
    let plain = reqwest::blocking::Client::new();
    assert!(
        plain
            .get(format!("http://{}/v2/health/live", s.addr))
            .send()
            .is_err()
    );
    let c = reqwest::blocking::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    assert_eq!(
        c.get(s.url("/v2/health/live"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeserve-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

//! Attacks by a hostile component or a careless manifest, performed against
//! a real server: answers far larger than the request (and lists that cost
//! the host more to lift than the guest to write), text made to forge the
//! host's log lines, and manifests naming files outside their folder.
//! Each hurts only its own call or deploy; everyone else is still served.

use std::time::{Duration, Instant};

use base64::Engine as _;
use edgeserve_test_support::{Repo, Server, components};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn infer(c: &Client, s: &Server, model: &str, params: Value) -> (u16, Value, usize) {
    let body = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}], "parameters": params});
    let r = c
        .post(s.url(&format!("/v2/models/{model}/infer")))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        bytes.len(),
    )
}

fn iris_ok(c: &Client, s: &Server) {
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    let r = c
        .post(s.url("/v2/models/iris/infer"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn an_answer_too_large_for_the_host_fails_only_its_own_call() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add(
        "flood",
        "1",
        components::FAULTY,
        "[limits]\nmemory = \"256MiB\"\nmax_response = \"1MiB\"\ndeadline = \"20s\"\n[config]\nmode = \"echo\"\n",
    )
    .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let c = client();
    let before = s.rss_kib().unwrap();
    // A 2M-element FP32 answer (8 MB), and 2M empty strings: each costs
    // the guest a few bytes and the host 24 to lift. Three of each at once.
    std::thread::scope(|scope| {
        let calls: Vec<_> = ["flood", "flood-strings"]
            .iter()
            .flat_map(|mode| std::iter::repeat_n(*mode, 3))
            .map(|mode| {
                let (c, s) = (&c, &s);
                scope.spawn(move || infer(c, s, "flood", json!({"mode": mode, "n": 2_000_000})))
            })
            .collect();
        for call in calls {
            let (status, body, _) = call.join().unwrap();
            assert_eq!(status, 500, "{body}");
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("more than its max_response of 1MiB"),
                "{body}"
            );
        }
    });
    let after = s.rss_kib().unwrap();
    // The guests' own memory (a few MB each) is resident; what the host
    // would have lifted (8-48 MB per call) never was.
    assert!(
        after < before + 200 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    // The same model answers small requests, and so does everyone else.
    let (status, body, _) = infer(&c, &s, "flood", json!({"mode": "flood", "n": 1000}));
    assert_eq!(status, 200, "{body}");
    iris_ok(&c, &s);
}

#[test]
fn guest_text_cannot_forge_log_lines_or_flood_answers() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add(
        "forger",
        "1",
        components::FAULTY,
        "[limits]\nmemory = \"64MiB\"\n[config]\nmode = \"forge\"\n",
    )
    .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let c = client();
    let (status, body, size) = infer(&c, &s, "forger", json!({}));
    assert_eq!(status, 500, "{body}");
    let message = body["error"].as_str().unwrap();
    // An 8 MiB error string is cut, and its line breaks are escaped.
    assert!(size < 4096, "{size} bytes");
    assert!(message.contains("more bytes cut"), "{message}");
    assert!(
        message.contains("failed\\r\\n2026-12-02T00:00:00"),
        "{message}"
    );
    iris_ok(&c, &s);
    assert!(s.wait_for_log("also innocent", Duration::from_secs(5)));
    assert!(s.wait_for_log("request failed", Duration::from_secs(5)));
    let log = s.log();
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-12-02T00:00:00"),
            "a forged line reached the log:\n{line}"
        );
        // Every line's target is the host's own; guest text sits inside a
        // quoted field, with its line breaks escaped.
        let target = line.split_whitespace().nth(2).unwrap_or_default();
        assert!(
            !(target == "edgeserve::audit:" && line.contains("forged=true")),
            "forged audit line: {line}"
        );
        assert!(line.len() < 8192, "a {}-byte log line", line.len());
    }
    assert!(
        log.lines().any(|l| l.contains("edgeserve::guest")
            && l.contains("text=\"innocent\\\\n2026-12-02T00:00:00")),
        "{log}"
    );
}

#[test]
fn manifests_cannot_reach_files_outside_their_folder() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    // In the repository: refused at start with the key that is wrong.
    repo.add(
        "escape",
        "1",
        components::FAULTY,
        "[smoke_test]\nrequest = \"/etc/hostname\"\n",
    )
    .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    assert!(
        s.log()
            .contains("[smoke_test] request: '/etc/hostname' must be a file name"),
        "{}",
        s.log()
    );
    let c = client();
    iris_ok(&c, &s);

    // Through the admin API: an upload whose manifest reaches out.
    let b64 = base64::engine::general_purpose::STANDARD;
    let component = b64.encode(std::fs::read(components::FAULTY).unwrap());
    for manifest in [
        "[smoke_test]\nrequest = \"/etc/shadow\"\n",
        "component = \"../../../../etc/hostname\"\n",
        "[artifacts]\nblob = \"/proc/self/environ\"\n",
    ] {
        let r = c
            .put(s.admin_url("/admin/v1/models/up/versions/1"))
            .json(&json!({"component": component, "manifest": manifest}))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap();
        assert_eq!(status, 400, "{manifest}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("must be a file name"),
            "{body}"
        );
    }
    // A node folder: only the manifest and the files it names are read,
    // and never a device, a pipe or a file of /proc.
    for path in ["/proc", "/dev", "/proc/self", "/sys/kernel"] {
        let started = Instant::now();
        let r = c
            .put(s.admin_url("/admin/v1/models/up/versions/2"))
            .json(&json!({"path": path}))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap();
        assert!(status == 400 || status == 422, "{path}: {status} {body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} took long"
        );
    }
    let r = c
        .put(s.admin_url("/admin/v1/models/up/versions/3"))
        .json(&json!({"path": "relative/dir"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("absolute path"));
    iris_ok(&c, &s);
}

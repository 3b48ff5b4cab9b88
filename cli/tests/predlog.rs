//! The prediction log: sampling, the no-inputs setting, rotation and
//! retention, a burst against a tiny queue (drops counted, requests
//! unaffected), and a torn last line.

use std::time::{Duration, Instant};

use edgeserve_node::telemetry::read_log;
use edgeserve_test_support::{Repo, Server, components, tempfile};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn iris_manifest(log: &str) -> String {
    format!("[limits]\nmemory = \"16MiB\"\n[prediction_log]\n{log}\n")
}

fn start(repo: &Repo, config: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("edgeserve.toml");
    std::fs::write(&cfg, config).unwrap();
    let s = Server::start(
        BIN,
        &[
            "--repository",
            repo.path().to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .unwrap();
    (s, dir)
}

fn infer(c: &Client, s: &Server, model: &str, rows: usize, id: &str) -> u16 {
    let data: Vec<f32> = (0..rows).flat_map(|_| [5.1f32, 3.5, 1.4, 0.2]).collect();
    let body = json!({"id": id, "inputs": [{"name": "input", "shape": [rows, 4], "datatype": "FP32", "data": data}]});
    c.post(s.url(&format!("/v2/models/{model}/infer")))
        .json(&body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn log_counts(c: &Client, s: &Server) -> (u64, u64) {
    let v: Value = c
        .get(s.admin_url("/admin/v1/models"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    (
        v["prediction_log"]["written"].as_u64().unwrap(),
        v["prediction_log"]["dropped"].as_u64().unwrap(),
    )
}

fn wait_written(c: &Client, s: &Server, n: u64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (w, d) = log_counts(c, s);
        if w + d >= n || Instant::now() > deadline {
            return (w, d);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sampling_inputs_rotation_retention_and_torn_lines() {
    let repo = Repo::new().unwrap();
    repo.add("all", "1", components::IRIS, &iris_manifest("sample = 1.0"))
        .unwrap();
    repo.add(
        "private",
        "1",
        components::IRIS,
        &iris_manifest("sample = 1.0\ninputs = false"),
    )
    .unwrap();
    repo.add(
        "half",
        "1",
        components::IRIS,
        &iris_manifest("sample = 0.5"),
    )
    .unwrap();
    repo.add(
        "none",
        "1",
        components::IRIS,
        "[limits]\nmemory = \"16MiB\"\n",
    )
    .unwrap();
    let (s, _cfg) = start(
        &repo,
        "[prediction_log]\nmax_file_size = \"2KiB\"\nmax_files = 2\n",
    );
    let c = Client::new();
    for i in 0..40 {
        for m in ["all", "private", "none"] {
            assert_eq!(infer(&c, &s, m, 1, &format!("{m}-{i}")), 200);
        }
    }
    let (written, dropped) = wait_written(&c, &s, 80);
    assert_eq!((written, dropped), (80, 0));
    for i in 0..200 {
        assert_eq!(infer(&c, &s, "half", 1, &format!("half-{i}")), 200);
    }
    // Sampling: half of 200, evenly (counted as written: retention below
    // keeps only the newest files); unconfigured models log nothing.
    std::thread::sleep(Duration::from_millis(300));
    let (written, dropped) = wait_written(&c, &s, 80 + 90);
    assert_eq!(dropped, 0);
    assert!(
        (90..=110).contains(&(written - 80)),
        "{} of 200 sampled",
        written - 80
    );
    let dir = s.state_dir.as_ref().unwrap().path().join("predictions");

    // Every request of `all` is logged, in order, with inputs and outputs.
    let (all, skipped) = read_log(&dir.join("all")).unwrap();
    assert_eq!(skipped, 0);
    // Retention: 2 KiB files, at most 2 rotated ones plus the current.
    let files = std::fs::read_dir(dir.join("all")).unwrap().count();
    assert!(files <= 3, "{files} files kept");
    assert!(
        all.len() < 40,
        "rotation dropped the oldest records ({} kept)",
        all.len()
    );
    let last = all.last().unwrap();
    assert_eq!(last["id"], "all-39");
    assert_eq!(last["model"], "all");
    assert_eq!(last["version"], "1");
    assert_eq!(last["outcome"], "ok");
    assert_eq!(last["inputs"][0]["data"], json!([5.1, 3.5, 1.4, 0.2]));
    assert_eq!(last["outputs"][1]["data"], json!(["setosa"]));
    assert!(last["latency_us"].as_u64().unwrap() > 0);
    let ids: Vec<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| id[4..].parse::<u32>().unwrap());
    assert_eq!(ids, sorted, "records read back oldest first");

    // `inputs = false` keeps inputs out, outputs in.
    let (private, _) = read_log(&dir.join("private")).unwrap();
    assert!(!private.is_empty());
    assert!(
        private
            .iter()
            .all(|r| r.get("inputs").is_none() && r.get("outputs").is_some())
    );

    assert!(!dir.join("none").exists());

    // A torn last line (a crash mid-write) is skipped on read.
    let current = dir.join("all").join("predictions.jsonl");
    let before = read_log(&current).unwrap().0.len();
    let mut text = std::fs::read(&current).unwrap();
    text.extend_from_slice(b"{\"id\":\"torn\",\"mod");
    std::fs::write(&current, text).unwrap();
    let (records, skipped) = read_log(&current).unwrap();
    assert_eq!((records.len(), skipped), (before, 1));
}

#[test]
fn a_burst_against_a_tiny_queue_drops_records_not_requests() {
    let repo = Repo::new().unwrap();
    repo.add("all", "1", components::IRIS, &iris_manifest("sample = 1.0"))
        .unwrap();
    let (s, _cfg) = start(&repo, "[prediction_log]\nqueue = 1\n");
    let sent = 16 * 40;
    std::thread::scope(|scope| {
        for t in 0..16 {
            let s = &s;
            scope.spawn(move || {
                let c = Client::new();
                for i in 0..40 {
                    // Large records (150 rows in and out) keep the writer busy.
                    assert_eq!(infer(&c, s, "all", 150, &format!("{t}-{i}")), 200);
                }
            });
        }
    });
    let c = Client::new();
    let (written, dropped) = wait_written(&c, &s, sent);
    assert_eq!(
        written + dropped,
        sent,
        "every record is written or counted as dropped"
    );
    assert!(
        dropped > 0,
        "a queue of one under a 16-way burst dropped nothing ({written} written)"
    );
    let dir = s
        .state_dir
        .as_ref()
        .unwrap()
        .path()
        .join("predictions")
        .join("all");
    assert_eq!(read_log(&dir).unwrap().0.len() as u64, written);
}

/// Large requests logged at `sample = 1`: each record keeps at most
/// `max_record_tensors` of tensors (the rest is cut and said so), and the
/// queue holds at most `queue_bytes`, so the log cannot pile up requests in
/// memory (40 such requests once held 1.15 GiB).
#[test]
fn large_requests_are_cut_and_the_queue_is_bounded_in_bytes() {
    let repo = Repo::new().unwrap();
    repo.add(
        "echo",
        "1",
        components::FAULTY,
        "[limits]\nmemory = \"64MiB\"\n[config]\nmode = \"echo\"\n[prediction_log]\nsample = 1.0\n",
    )
    .unwrap();
    let (s, _cfg) = start(
        &repo,
        "[prediction_log]\nmax_record_tensors = \"64KiB\"\nqueue_bytes = \"1MiB\"\n",
    );
    let c = Client::new();
    let before = s.rss_kib().unwrap();
    // 4 MiB of FP32 in binary, echoed back: 8 MiB of tensors per record.
    let n = 1 << 20;
    let header = json!({"inputs": [{"name": "x", "shape": [n], "datatype": "FP32",
        "parameters": {"binary_data_size": 4 * n}}]})
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend(std::iter::repeat_n(0u8, 4 * n));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let r = c
                        .post(s.url("/v2/models/echo/infer"))
                        .header("inference-header-content-length", header.len())
                        .body(body.clone())
                        .send()
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                }
            });
        }
    });
    let (written, dropped) = wait_written(&c, &s, 40);
    assert_eq!(written + dropped, 40);
    let status: Value = c
        .get(s.admin_url("/admin/v1/models"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["prediction_log"]["truncated"], 40, "{status}");
    let after = s.rss_kib().unwrap();
    assert!(
        after < before + 200 * 1024,
        "RSS {before} -> {after} KiB with a 1 MiB queue"
    );
    // A small request is still logged whole.
    let small =
        json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}]});
    let r = c
        .post(s.url("/v2/models/echo/infer"))
        .json(&small)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    wait_written(&c, &s, 41);
    let (records, _) = edgeserve_node::telemetry::read_log(
        &s.state_dir.as_ref().unwrap().path().join("predictions"),
    )
    .unwrap();
    let cut: Vec<&Value> = records.iter().filter(|r| !r["cut"].is_null()).collect();
    assert_eq!(cut.len() as u64, written.min(40));
    for r in &cut {
        assert_eq!(r["cut"]["inputs_bytes"], 4 * n, "{r}");
        assert_eq!(r["cut"]["outputs_bytes"], 4 * n, "{r}");
        assert!(
            r.get("inputs").is_none() && r.get("outputs").is_none(),
            "{r}"
        );
    }
    let whole = records
        .iter()
        .find(|r| r["cut"].is_null())
        .expect("the small one");
    assert_eq!(whole["inputs"][0]["data"], json!([1.0, 2.0]));
    assert_eq!(whole["outputs"][0]["data"], json!([1.0, 2.0]));
}

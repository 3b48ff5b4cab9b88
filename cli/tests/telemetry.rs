//! Telemetry end to end: the Prometheus exposition (parsed by the official
//! `prometheus_client` parser), OTLP export of metrics and traces decoded
//! by a receiver built on the official OpenTelemetry protobuf definitions
//! (with a propagated `traceparent`), input drift against a baseline made
//! by `scripts/drift-baseline`, shadow comparison, and `edgeserve rescore`
//! on a log recorded from a real run.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use edgeserve_test_support::{
    Prometheus, Repo, Server, components, otlp_exports, otlp_receiver_with, otlp_spans, python_env,
    reference, repo_root, run, tempfile,
};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn start(repo: &Repo, dir: &Path, config: &str) -> Server {
    edgeserve_test_support::start_with_config(BIN, repo, dir, config).unwrap()
}

fn iris_rows() -> Vec<Vec<f64>> {
    reference("iris").unwrap()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn score_iris(c: &Client, s: &Server, row: &[f64], headers: &[(&str, &str)]) -> u16 {
    let body =
        json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": row}]});
    let mut req = c.post(s.url("/v2/models/iris/infer")).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().unwrap().status().as_u16()
}

fn metrics_text(c: &Client, s: &Server) -> String {
    let r = c.get(s.admin_url("/metrics")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    r.text().unwrap()
}

/// Parses the exposition with prometheus_client and returns
/// {family: {"type": ..., "samples": [[name, labels, value], ...]}}.
fn parse_exposition(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, text).unwrap();
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
print(json.dumps(out))
"#;
    let out = Command::new(python_env())
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sample(families: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families[family]["samples"]
        .as_array()?
        .iter()
        .find(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][*k].as_str() == Some(*v)))
        .and_then(|s| s[2].as_f64())
}

#[test]
fn prometheus_exposition_parses_and_counts_what_happened() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = start(&repo, dir.path(), "");
    let c = client();
    for row in iris_rows().iter().take(10) {
        assert_eq!(score_iris(&c, &s, row, &[]), 200);
    }
    // A client error, counted with its own outcome and status.
    assert_eq!(score_iris(&c, &s, &[1.0, 2.0], &[]), 400);
    let families = parse_exposition(&metrics_text(&c, &s));
    assert_eq!(
        families["http_server_request_duration_seconds"]["type"],
        "histogram"
    );
    let ok = sample(
        &families,
        "http_server_request_duration_seconds",
        "http_server_request_duration_seconds_count",
        &[
            ("http_route", "/v2/models/{model}/infer"),
            ("http_response_status_code", "200"),
        ],
    );
    assert_eq!(ok, Some(10.0), "{families}");
    assert_eq!(
        sample(
            &families,
            "edgeserve_inference_count",
            "edgeserve_inference_count_total",
            &[("model", "iris"), ("version", "1"), ("outcome", "ok")]
        ),
        Some(10.0),
        "{families}"
    );
    assert_eq!(
        sample(
            &families,
            "http_server_request_duration_seconds",
            "http_server_request_duration_seconds_count",
            &[("http_response_status_code", "400")]
        ),
        Some(1.0)
    );
    for family in [
        "edgeserve_inference_duration_seconds",
        "edgeserve_predict_duration_seconds",
        "edgeserve_versions_loaded",
        "http_server_active_requests",
        "edgeserve_prediction_log_records",
        "target_info",
    ] {
        assert!(families.get(family).is_some(), "no {family}: {families}");
    }
    assert_eq!(
        sample(
            &families,
            "edgeserve_versions_loaded",
            "edgeserve_versions_loaded",
            &[("model", "iris")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_real_prometheus_server_scrapes_the_metrics() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = start(&repo, dir.path(), "");
    let c = client();
    for row in iris_rows().iter().take(7) {
        assert_eq!(score_iris(&c, &s, row, &[]), 200);
    }
    let prom = Prometheus::start(s.admin_addr.as_deref().unwrap(), "/metrics").unwrap();
    let series = prom
        .wait_for(
            "edgeserve_inference_count_total{model=\"iris\",outcome=\"ok\"}",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", prom.log()));
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(Prometheus::value(&series[0]), Some(7.0));
    assert_eq!(series[0]["metric"]["version"], "1");
    let up = prom.query("up{job=\"edgeserve\"}").unwrap();
    assert_eq!(up.first().and_then(Prometheus::value), Some(1.0));
    // A histogram Prometheus can compute quantiles from: the p99 of the
    // seven calls (over the cumulative buckets: they all came before the
    // first scrape, so a rate would be zero) is a real latency, above
    // zero and far below the deadline.
    let p99 = prom
        .wait_for(
            "histogram_quantile(0.99, sum by (le) (edgeserve_inference_duration_seconds_bucket{model=\"iris\"}))",
            Duration::from_secs(30),
        )
        .unwrap();
    let p99 = p99.first().and_then(Prometheus::value);
    assert!(
        p99.is_some_and(|s| s > 0.0 && s < 1.0),
        "p99 of seven iris calls should be a latency in (0, 1) s: {p99:?}"
    );
    let count = prom
        .query(
            "http_server_request_duration_seconds_count{http_route=\"/v2/models/{model}/infer\"}",
        )
        .unwrap();
    assert_eq!(count.first().and_then(Prometheus::value), Some(7.0));
}

/// The test OTLP receiver: (process, port, output file).
fn otlp_receiver(dir: &Path) -> (Child, u16, std::path::PathBuf) {
    otlp_receiver_with(dir, &[])
}

#[test]
fn otlp_export_of_metrics_and_traces_with_a_propagated_traceparent() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut receiver, port, out) = otlp_receiver(dir.path());
    let s = start(
        &repo,
        dir.path(),
        &format!(
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nexport_interval = \"300ms\"\ntrace_sample_ratio = 0.0\n"
        ),
    );
    let c = client();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent}-01");
    assert_eq!(
        score_iris(
            &c,
            &s,
            &[5.1, 3.5, 1.4, 0.2],
            &[("traceparent", &traceparent)]
        ),
        200
    );
    // Not sampled (ratio 0, no sampled parent): no trace.
    assert_eq!(score_iris(&c, &s, &[5.1, 3.5, 1.4, 0.2], &[]), 200);
    let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    assert_eq!(
        score_iris(&c, &s, &[5.1, 3.5, 1.4, 0.2], &[("traceparent", unsampled)]),
        200
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut metrics, mut spans) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        let all = otlp_exports(&out);
        metrics = all
            .iter()
            .filter(|e| e["signal"] == "metrics")
            .cloned()
            .collect();
        spans = otlp_spans(&all);
        let has_inference = metrics
            .iter()
            .any(|m| m.to_string().contains("edgeserve.inference.count"));
        if has_inference && spans.len() >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Metrics: names, attributes, the resource.
    let text = metrics.iter().map(Value::to_string).collect::<String>();
    for name in [
        "http.server.request.duration",
        "edgeserve.inference.count",
        "edgeserve.inference.duration",
        "edgeserve.predict.duration",
        "edgeserve.versions.loaded",
    ] {
        assert!(text.contains(&format!("\"{name}\"")), "no {name} in {text}");
    }
    assert!(text.contains("\"service.name\"") && text.contains("\"edgeserve\""));
    assert!(text.contains("\"model\"") && text.contains("\"iris\""));
    assert!(text.contains("\"outcome\""));
    // Traces: one server span in the client's trace, child of its span,
    // with a child per stage; nothing from the unsampled requests.
    let root = spans
        .iter()
        .find(|s| s["name"] == "POST /v2/models/{model}/infer")
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    assert_eq!(root["traceId"], trace_id);
    assert_eq!(root["parentSpanId"], parent);
    assert_eq!(root["kind"], "SPAN_KIND_SERVER");
    let root_id = root["spanId"].as_str().unwrap();
    let children: Vec<&str> = spans
        .iter()
        .filter(|s| s["parentSpanId"] == root_id)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for stage in ["decode", "predict", "encode"] {
        assert!(children.contains(&stage), "no {stage} span: {children:?}");
    }
    assert!(
        spans.iter().all(|s| s["traceId"] == trace_id),
        "unsampled requests were traced: {spans:#?}"
    );
    let attrs = root["attributes"].to_string();
    assert!(attrs.contains("edgeserve.model") && attrs.contains("http.response.status_code"));
    drop(s);
    let _ = receiver.kill();
    let _ = receiver.wait();
}

#[test]
fn drift_is_low_on_training_like_inputs_and_high_on_shifted_ones() {
    let rows = iris_rows();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("train.csv");
    let mut text = String::from("sepal_length,sepal_width,petal_length,petal_width\n");
    for r in &rows {
        text.push_str(&format!("{},{},{},{}\n", r[0], r[1], r[2], r[3]));
    }
    std::fs::write(&csv, text).unwrap();
    let repo = Repo::new().unwrap();
    let vdir = repo.add_example("iris", "1", components::IRIS).unwrap();
    let (code, out, err) = run(
        "python3",
        &[
            repo_root().join("scripts/drift-baseline").to_str().unwrap(),
            csv.to_str().unwrap(),
            "--input",
            "input",
            "-o",
            vdir.join("drift-baseline.json").to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let manifest = vdir.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[drift]\nbaseline = \"drift-baseline.json\"\nwindow = 300\n"),
    )
    .unwrap();
    let s = start(&repo, dir.path(), "");
    let c = client();
    let psi = |c: &Client| -> Vec<(String, f64)> {
        let st: Value = c
            .get(s.admin_url("/admin/v1/models/iris"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        st["versions"][0]["drift"]["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["psi"].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect()
    };
    for r in &rows {
        assert_eq!(score_iris(&c, &s, r, &[]), 200);
    }
    let stable = psi(&c);
    assert_eq!(stable.len(), 4);
    for (name, v) in &stable {
        assert!(*v < 0.1, "{name}: PSI {v} on the training rows: {stable:?}");
    }
    // The same flowers, measured 2.5 cm larger: every feature drifts.
    for r in rows.iter().chain(&rows) {
        let shifted: Vec<f64> = r.iter().map(|v| v + 2.5).collect();
        assert_eq!(score_iris(&c, &s, &shifted, &[]), 200);
    }
    let drifted = psi(&c);
    for (name, v) in &drifted {
        assert!(*v > 0.25, "{name}: PSI {v} after the shift: {drifted:?}");
    }
    let families = parse_exposition(&metrics_text(&c, &s));
    let v = sample(
        &families,
        "edgeserve_drift_psi",
        "edgeserve_drift_psi",
        &[
            ("model", "iris"),
            ("feature", "petal_length"),
            ("input", "input"),
        ],
    );
    assert!(v.is_some_and(|v| v > 0.25), "{families}");
}

#[test]
fn shadow_answers_are_compared_counted_and_logged() {
    let repo = Repo::new().unwrap();
    let log = "[prediction_log]\nsample = 1.0\n";
    repo.add(
        "m",
        "1",
        components::FAULTY,
        &format!("[config]\nmode = \"echo\"\n{log}"),
    )
    .unwrap();
    repo.add(
        "m",
        "2",
        components::FAULTY,
        &format!("[config]\nmode = \"echo\"\noffset = \"0.5\"\n{log}"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = start(&repo, dir.path(), "");
    let c = client();
    let r = c
        .put(s.admin_url("/admin/v1/models/m/primary"))
        .json(&json!({"version": "1"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .put(s.admin_url("/admin/v1/models/m/shadow"))
        .json(&json!({"version": "2"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body =
        json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}]});
    for _ in 0..20 {
        let r = c
            .post(s.url("/v2/models/m/infer"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().unwrap();
        assert_eq!(v["model_version"], "1");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut shadow = Value::Null;
    while Instant::now() < deadline {
        let st: Value = c
            .get(s.admin_url("/admin/v1/models/m"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        shadow = st["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == "2")
            .cloned()
            .unwrap();
        if shadow["shadow_compared"] == 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(shadow["shadow_compared"], 20, "{shadow}");
    assert_eq!(shadow["shadow_agreed"], 0);
    let max = shadow["shadow_max_abs_diff"].as_f64().unwrap();
    assert!((max - 0.5).abs() < 1e-6, "{shadow}");
    let families = parse_exposition(&metrics_text(&c, &s));
    assert_eq!(
        sample(
            &families,
            "edgeserve_shadow_comparisons",
            "edgeserve_shadow_comparisons_total",
            &[("model", "m"), ("version", "2"), ("result", "disagree")]
        ),
        Some(20.0),
        "{families}"
    );
    assert_eq!(
        sample(
            &families,
            "edgeserve_shadow_max_abs_diff",
            "edgeserve_shadow_max_abs_diff_count",
            &[("model", "m"), ("version", "2")]
        ),
        Some(20.0)
    );
    // The prediction log holds the shadow's records with the comparison.
    let mut s = s;
    s.signal("TERM").unwrap();
    s.wait_exit(Duration::from_secs(20)).unwrap();
    let text = find_predictions(&predictions_dir(&s, "m"));
    let shadow_lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["role"] == "shadow")
        .collect();
    assert_eq!(shadow_lines.len(), 20, "{text}");
    assert_eq!(shadow_lines[0]["shadow"]["primary_version"], "1");
    assert_eq!(shadow_lines[0]["shadow"]["agree"], false);
    assert_eq!(shadow_lines[0]["version"], "2");
}

/// Every prediction-log line under `dir` (recursively).
fn find_predictions(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

fn predictions_dir(server: &Server, model: &str) -> std::path::PathBuf {
    server
        .state_dir
        .as_ref()
        .unwrap()
        .path()
        .join("predictions")
        .join(model)
}

#[test]
fn rescore_replays_a_real_log_against_identical_and_different_candidates() {
    let repo = Repo::new().unwrap();
    let vdir = repo.add_example("iris", "1", components::IRIS).unwrap();
    let manifest = vdir.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[prediction_log]\nsample = 1.0\n"),
    )
    .unwrap();
    repo.add(
        "m",
        "1",
        components::FAULTY,
        "[config]\nmode = \"echo\"\n[prediction_log]\nsample = 1.0\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(&repo, dir.path(), "");
    let c = client();
    let rows = iris_rows();
    for r in &rows {
        assert_eq!(score_iris(&c, &s, r, &[]), 200);
    }
    for i in 0..50 {
        let body = json!({"id": format!("req-{i}"), "inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [i, 1, 2]}]});
        assert_eq!(
            c.post(s.url("/v2/models/m/infer"))
                .json(&body)
                .send()
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
    s.signal("TERM").unwrap();
    s.wait_exit(Duration::from_secs(20)).unwrap();
    let iris_log = predictions_dir(&s, "iris");
    let m_log = predictions_dir(&s, "m");

    // The same component: full agreement, zero difference.
    let (code, out, err) = run(
        BIN,
        &[
            "rescore",
            "--log",
            iris_log.to_str().unwrap(),
            "--candidate",
            components::IRIS,
            "--manifest",
            manifest.to_str().unwrap(),
            "--json",
        ],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["replayed"], 150, "{r}");
    assert_eq!(r["candidate_errors"], 0);
    let label = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "label")
        .unwrap();
    assert_eq!(label["agreement"], 1.0);
    let confusion = &label["confusion"];
    assert_eq!(
        confusion["labels"].as_array().unwrap().len(),
        3,
        "{confusion}"
    );
    let probs = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "probabilities")
        .unwrap();
    assert_eq!(probs["abs_diff"]["max"], 0.0);
    assert!(r["worst"].as_array().unwrap().is_empty());
    assert!(r["latency"]["candidate_us"]["p50"].as_f64().unwrap() > 0.0);

    // A different candidate (the echo model, answering x + 100): every
    // element disagrees by 100, and the worst records are named.
    let cand = dir.path().join("candidate");
    std::fs::create_dir_all(&cand).unwrap();
    std::fs::write(
        cand.join("manifest.toml"),
        "[config]\nmode = \"echo\"\noffset = \"100\"\n",
    )
    .unwrap();
    let html = dir.path().join("report.html");
    let (code, out, err) = run(
        BIN,
        &[
            "rescore",
            "--log",
            m_log.to_str().unwrap(),
            "--candidate",
            components::FAULTY,
            "--manifest",
            cand.join("manifest.toml").to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    for needle in ["replayed 50", "candidate 0", "worst disagreements", "req-"] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let (code, out, _) = run(
        BIN,
        &[
            "rescore",
            "--log",
            m_log.to_str().unwrap(),
            "--candidate",
            components::FAULTY,
            "--manifest",
            cand.join("manifest.toml").to_str().unwrap(),
            "--json",
        ],
    )
    .unwrap();
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    let y = &r["outputs"][0];
    assert_eq!(y["name"], "y");
    assert_eq!(y["compared"], 150);
    assert!(
        (y["abs_diff"]["max"].as_f64().unwrap() - 100.0).abs() < 1e-3,
        "{y}"
    );
    assert!((y["abs_diff"]["mean"].as_f64().unwrap() - 100.0).abs() < 1e-3);
    assert_eq!(r["worst"].as_array().unwrap().len(), 20);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && page.contains("req-"),
        "the HTML report has no chart"
    );

    // Bad invocations say why.
    let (code, _, err) = run(
        BIN,
        &[
            "rescore",
            "--log",
            "/no/such/log",
            "--candidate",
            components::IRIS,
        ],
    )
    .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("prediction log"), "{err}");
    let both = dir.path().join("both");
    std::fs::create_dir_all(&both).unwrap();
    for (src, name) in [(&iris_log, "iris.jsonl"), (&m_log, "m.jsonl")] {
        std::fs::write(both.join(name), find_predictions(src)).unwrap();
    }
    let (code, _, err) = run(
        BIN,
        &[
            "rescore",
            "--log",
            both.to_str().unwrap(),
            "--candidate",
            components::IRIS,
        ],
    )
    .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("--model"), "{err}");
}

/// An `https://` collector with a private CA: the exporters speak TLS
/// (rustls on ring) and trust `[telemetry] otlp_ca`.
#[test]
fn otlp_export_over_https_to_a_collector_with_a_private_ca() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = edgeserve_test_support::TestCa::new("collector CA");
    let (cert, key) = ca.leaf("collector", &["127.0.0.1"]);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert, key, ca_pem) = (
        write("c.pem", &cert),
        write("c.key", &key),
        write("ca.pem", &ca.pem()),
    );
    let (mut receiver, port, out) =
        otlp_receiver_with(dir.path(), &["--tls-cert", &cert, "--tls-key", &key]);
    let s = start(
        &repo,
        dir.path(),
        &format!(
            "[telemetry]\notlp_endpoint = \"https://127.0.0.1:{port}\"\notlp_ca = \"{ca_pem}\"\nexport_interval = \"200ms\"\n"
        ),
    );
    let c = client();
    assert_eq!(score_iris(&c, &s, &[5.1, 3.5, 1.4, 0.2], &[]), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        seen = otlp_exports(&out).iter().any(|e| {
            e["signal"] == "metrics" && e.to_string().contains("edgeserve.inference.count")
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = receiver.kill();
    assert!(seen, "no metrics arrived over https:\n{}", s.log());
}

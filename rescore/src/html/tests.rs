//! Unit tests of the HTML report: its charts, matrix and tables are there,
//! hostile strings stay text, odd numbers render, ids are safe.

use super::super::report::{Bin, Confusion, Disagreement, Latency, Summary};
use super::charts::nice_step;
use super::format::{clip, micros, num, percent};
use super::*;

fn bins(edges: &[f64], counts: &[u64]) -> Vec<Bin> {
    edges
        .windows(2)
        .zip(counts)
        .map(|(w, &count)| Bin {
            lo: w[0],
            hi: w[1],
            count,
        })
        .collect()
}

fn numbers(name: &str) -> OutputComparison {
    OutputComparison {
        name: name.to_string(),
        kind: "numbers".to_string(),
        compared: 300,
        mismatched_shape: 0,
        agreement: None,
        abs_diff: Some(Summary {
            count: 300,
            mean: 0.0123,
            p50: 0.004,
            p99: 0.091,
            max: 0.1,
        }),
        histogram: bins(&[0.0, 0.025, 0.05, 0.075, 0.1], &[240, 40, 0, 20]),
        confusion: None,
    }
}

fn labels(name: &str, labels: &[&str]) -> OutputComparison {
    OutputComparison {
        name: name.to_string(),
        kind: "labels".to_string(),
        compared: 100,
        mismatched_shape: 0,
        agreement: Some(0.9),
        abs_diff: None,
        histogram: Vec::new(),
        confusion: Some(Confusion {
            labels: labels.iter().map(|s| s.to_string()).collect(),
            counts: vec![vec![40, 5, 0], vec![3, 30, 2], vec![0, 0, 20]],
        }),
    }
}

fn sample() -> RescoreReport {
    let edges = [0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0];
    RescoreReport {
        log: "/var/log/edgeserve/predictions/iris".to_string(),
        candidate: "iris-v2.wasm".to_string(),
        candidate_sha256: "ab".repeat(32),
        models: vec!["iris".to_string()],
        logged_versions: vec!["1".to_string()],
        records: 103,
        replayed: 100,
        skipped_without_inputs: 2,
        logged_errors: 0,
        candidate_errors: 1,
        torn_lines: 1,
        outputs: vec![
            numbers("probabilities"),
            labels("label", &["setosa", "versicolor", "virginica"]),
        ],
        latency: Latency {
            logged_us: Summary {
                count: 100,
                mean: 900.0,
                p50: 800.0,
                p99: 2100.0,
                max: 2400.0,
            },
            candidate_us: Summary {
                count: 99,
                mean: 1200.0,
                p50: 1100.0,
                p99: 2300.0,
                max: 2450.0,
            },
            logged_histogram: bins(&edges, &[20, 50, 20, 8, 2]),
            candidate_histogram: bins(&edges, &[5, 30, 40, 20, 4]),
        },
        worst: vec![
            Disagreement {
                id: "req-17".to_string(),
                output: "probabilities".to_string(),
                logged: "0.91".to_string(),
                candidate: "0.81".to_string(),
                abs_diff: Some(0.1),
            },
            Disagreement {
                id: "req-42".to_string(),
                output: "error".to_string(),
                logged: "setosa".to_string(),
                candidate: "trap: out of fuel".to_string(),
                abs_diff: None,
            },
        ],
    }
}

/// The text of the element that starts at `<tag id="id"`, up to its
/// closing tag.
fn element<'a>(html: &'a str, tag: &str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<{tag} id=\"{id}\""))
        .unwrap_or_else(|| panic!("no <{tag} id=\"{id}\"> in the report"));
    let end = html[start..].find(&format!("</{tag}>")).unwrap() + start;
    &html[start..end]
}

#[test]
fn every_chart_is_there_with_its_bars() {
    let html = render(&sample());
    assert!(html.starts_with("<!DOCTYPE html>"));
    let diff = element(&html, "svg", "chart-diff-probabilities");
    // one bar per non-empty bin, in the diff colour
    assert_eq!(diff.matches("<rect class=\"bar\"").count(), 3);
    assert!(diff.contains(DIFF));
    let latency = element(&html, "svg", "chart-latency");
    assert_eq!(latency.matches("<rect class=\"bar\"").count(), 10);
    assert!(latency.contains(LOGGED) && latency.contains(CANDIDATE));
    // p50 and p99 of both sides
    assert_eq!(latency.matches("class=\"marker\"").count(), 4);
    assert!(latency.contains("logged p50 800 µs"));
    assert!(latency.contains("candidate p99 2.3 ms"));
    let matrix = element(&html, "table", "confusion-label");
    assert_eq!(matrix.matches("<tr>").count(), 4, "header and three rows");
    assert_eq!(matrix.matches("class=\"diag\"").count(), 3);
    assert_eq!(matrix.matches("class=\"off\"").count(), 3);
    let worst = element(&html, "table", "worst");
    assert!(worst.contains("req-17") && worst.contains("req-42"));
    // summary numbers
    assert!(html.contains("90.00 %"));
    assert!(html.contains("0.0123"));
    assert!(html.contains("1 candidate error"));
}

#[test]
fn hostile_strings_are_escaped() {
    let mut r = sample();
    let evil = "<script>alert(1)</script>";
    r.log = format!("/logs/{evil}");
    r.models = vec!["\"><img src=x onerror=alert(1)>".to_string()];
    r.outputs[0].name = "<b>probs</b>".to_string();
    r.outputs[1] = labels("label", &[evil, "a&b", "'quoted'"]);
    r.worst[0].id = "\" onmouseover=\"alert(1)".to_string();
    r.worst[0].logged = evil.to_string();
    r.worst[1].candidate = "</td></tr></table><script>x()</script>".to_string();
    let html = render(&r);
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "raw <script> in the report");
    assert!(!lower.contains("<img"));
    assert!(!html.contains("<b>probs"));
    assert!(!html.contains("\" onmouseover"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a&amp;b"));
    assert!(html.contains("&#39;quoted&#39;"));
    // the escaped output name still gets a chart, under a safe id
    assert!(html.contains("id=\"chart-diff--b-probs--b-\""));
    // structure intact
    assert_eq!(
        html.matches("<table").count(),
        html.matches("</table>").count()
    );
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
}

#[test]
fn empty_report_renders() {
    let html = render(&RescoreReport::default());
    assert!(html.contains("</html>"));
    assert!(html.contains("Nothing replayed"));
    let latency = element(&html, "svg", "chart-latency");
    assert!(latency.contains("no data"));
    assert!(!html.contains("NaN") && !html.contains("inf"));
}

#[test]
fn empty_and_odd_outputs_render() {
    let mut r = sample();
    r.outputs[0].histogram.clear();
    r.outputs[0].abs_diff = Some(Summary {
        count: 0,
        mean: f64::NAN,
        p50: f64::INFINITY,
        p99: f64::NAN,
        max: f64::NAN,
    });
    // a ragged matrix: missing cells count as zero
    r.outputs[1].confusion = Some(Confusion {
        labels: vec!["a".into(), "b".into()],
        counts: vec![vec![3]],
    });
    r.latency.candidate_histogram.truncate(2);
    r.latency.candidate_us.p99 = f64::NAN;
    let html = render(&r);
    assert!(element(&html, "svg", "chart-diff-probabilities").contains("no data"));
    assert!(element(&html, "table", "confusion-label").contains(">3<"));
    assert!(!html.contains("NaN") && !html.contains("inf"));
    // the marker whose value is not finite is left out
    assert_eq!(
        element(&html, "svg", "chart-latency")
            .matches("class=\"marker\"")
            .count(),
        3
    );
}

#[test]
fn identical_run_says_so() {
    let mut r = sample();
    r.candidate_errors = 0;
    r.outputs[0].abs_diff = Some(Summary::default());
    r.outputs[1].agreement = Some(1.0);
    r.worst.clear();
    let html = render(&r);
    assert!(html.contains("Candidate matches all 100 replayed records"));
    assert!(html.contains("None: every compared output matched."));
    assert!(!html.contains("chip bad"));
}

#[test]
fn ids_are_safe_and_unique() {
    let outputs = ["a b", "a/b", "a-b", "", "ü"].map(numbers);
    assert_eq!(
        output_ids(&outputs),
        ["a-b", "a-b-2", "a-b-3", "output", "-"]
    );
}

#[test]
fn numbers_read_well() {
    assert_eq!(num(0.0), "0");
    assert_eq!(num(0.012345), "0.01235");
    assert_eq!(num(1.5), "1.5");
    assert_eq!(num(2500.0), "2500");
    assert_eq!(num(1.2e-7), "1.20e-7");
    assert_eq!(num(f64::NAN), "–");
    assert_eq!(micros(800.0), "800 µs");
    assert_eq!(micros(2300.0), "2.3 ms");
    assert_eq!(micros(3_500_000.0), "3.5 s");
    assert_eq!(percent(0.99999), "99.99 %");
    assert_eq!(percent(1.0), "100 %");
    assert_eq!(clip("abcdef", 4), "abc…");
    assert_eq!(clip("abc", 4), "abc");
    assert_eq!(clip("ééééé", 3), "éé…");
    assert_eq!(nice_step(7.0, 4), 2.0);
    assert_eq!(nice_step(240.0, 4), 100.0);
    assert_eq!(nice_step(3.0, 4), 1.0);
}

//! The HTML rescore report in a real browser: headless Chromium (Debian's
//! `chromium` package, installed by `scripts/test-deps`) opens a rendered
//! report from a file, with no network, takes a screenshot and dumps the
//! DOM. The screenshot must show the chart bars in their colours, and an
//! empty report (nothing replayed, no bars) must not: so the check can
//! tell a report with charts from one without.
//!
//! The pictures are kept in `target/report-screenshot/` for a person to
//! look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeserve_rescore::{
    Bin, Confusion, Disagreement, Latency, OutputComparison, RescoreReport, Summary, render,
};
use edgeserve_test_support::repo_root;

/// The chart colours of `host/src/rescore/html.rs`.
const LOGGED: &str = "#4e79a7";
const CANDIDATE: &str = "#f28e2b";
const DIFF: &str = "#1b9e77";

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is needed for the HTML report test and was not found on PATH \
         (looked for `chromium` and `chromium-browser`). Install it with \
         `scripts/test-deps` (as root), or `sudo apt-get install --no-install-recommends chromium`."
    );
}

/// Runs Chromium headless on a file and returns its stdout; fails after a
/// minute.
fn run_chromium(profile: &Path, extra: &[String], page: &Path) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pixel statistics of a PNG (tests/python/png_stats.py, standard library
/// only).
fn png_stats(png: &Path) -> serde_json::Value {
    let script = repo_root().join("tests/python/png_stats.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(png)
        .args(["--color", &format!("logged={LOGGED}")])
        .args(["--color", &format!("candidate={CANDIDATE}")])
        .args(["--color", &format!("diff={DIFF}")])
        .args(["--tolerance", "10"])
        .output()
        .expect("python3 is needed to read the screenshot");
    assert!(
        out.status.success(),
        "png_stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Renders the report, screenshots it at 1280×2400 and returns the pixel
/// statistics and the dumped DOM.
fn shoot(report: &RescoreReport, name: &str) -> (serde_json::Value, String) {
    let dir = repo_root().join("target/report-screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join(format!("{name}.html"));
    let png = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    std::fs::write(&html, render(report)).unwrap();
    let profile = edgeserve_test_support::tempfile::tempdir().unwrap();
    run_chromium(
        profile.path(),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2400".to_string(),
        ],
        &html,
    );
    assert!(png.exists(), "chromium wrote no screenshot");
    let dom = run_chromium(profile.path(), &["--dump-dom".to_string()], &html);
    (png_stats(&png), dom)
}

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

/// A report like one from a real rescore with disagreements: a numeric
/// output, a label output, latency on both sides and hostile strings.
fn synthetic() -> RescoreReport {
    let diff_edges: Vec<f64> = (0..=12).map(|i| f64::from(i) * 0.01).collect();
    let latency_edges: Vec<f64> = (0..=16).map(|i| f64::from(i) * 250.0).collect();
    let labels = [
        "setosa",
        "versicolor",
        "virginica",
        "<script>alert(1)</script>",
    ];
    RescoreReport {
        log: "/var/lib/edgeserve/predictions/iris".to_string(),
        candidate: "/srv/candidates/iris-v2.wasm".to_string(),
        candidate_sha256: "9f2b".repeat(16),
        models: vec!["iris".to_string()],
        logged_versions: vec!["1".to_string(), "2".to_string()],
        records: 1204,
        replayed: 1200,
        skipped_without_inputs: 3,
        logged_errors: 2,
        candidate_errors: 4,
        torn_lines: 1,
        outputs: vec![
            OutputComparison {
                name: "probabilities".to_string(),
                kind: "numbers".to_string(),
                compared: 3600,
                mismatched_shape: 0,
                agreement: None,
                abs_diff: Some(Summary {
                    count: 3600,
                    mean: 0.012,
                    p50: 0.006,
                    p99: 0.094,
                    max: 0.118,
                }),
                histogram: bins(
                    &diff_edges,
                    &[1500, 900, 520, 300, 160, 90, 50, 30, 20, 15, 10, 5],
                ),
                confusion: None,
            },
            OutputComparison {
                name: "label".to_string(),
                kind: "labels".to_string(),
                compared: 1200,
                mismatched_shape: 0,
                agreement: Some(0.94),
                abs_diff: None,
                histogram: Vec::new(),
                confusion: Some(Confusion {
                    labels: labels.iter().map(|s| s.to_string()).collect(),
                    counts: vec![
                        vec![400, 8, 0, 0],
                        vec![12, 350, 30, 0],
                        vec![0, 20, 370, 2],
                        vec![0, 0, 0, 8],
                    ],
                }),
            },
        ],
        latency: Latency {
            logged_us: Summary {
                count: 1200,
                mean: 820.0,
                p50: 760.0,
                p99: 2480.0,
                max: 3900.0,
            },
            candidate_us: Summary {
                count: 1196,
                mean: 1010.0,
                p50: 950.0,
                p99: 2950.0,
                max: 3990.0,
            },
            logged_histogram: bins(
                &latency_edges,
                &[40, 180, 330, 290, 160, 80, 40, 25, 15, 12, 8, 6, 4, 3, 2, 1],
            ),
            candidate_histogram: bins(
                &latency_edges,
                &[
                    10, 90, 240, 300, 240, 130, 70, 45, 25, 15, 12, 9, 5, 3, 1, 1,
                ],
            ),
        },
        worst: (0..12)
            .map(|i| Disagreement {
                id: if i == 3 {
                    "\"><img src=x onerror=alert(1)>".to_string()
                } else {
                    format!("01J9ZK3Q{i:02}XW")
                },
                output: if i == 5 { "error" } else { "probabilities" }.to_string(),
                logged: format!("{:.4}", 0.9 - f64::from(i) * 0.01),
                candidate: format!("{:.4}", 0.78 - f64::from(i) * 0.005),
                abs_diff: Some(0.118 - f64::from(i) * 0.004),
            })
            .collect(),
    }
}

fn count(stats: &serde_json::Value, key: &str) -> u64 {
    stats["colors"][key].as_u64().unwrap()
}

#[test]
fn report_opens_in_headless_chromium_and_shows_its_charts() {
    let (stats, dom) = shoot(&synthetic(), "synthetic");
    assert_eq!(stats["width"], 1280, "{stats}");
    assert_eq!(stats["height"], 2400, "{stats}");
    // Not blank: text and axes (dark pixels) and chart colours.
    assert!(
        stats["dark"].as_u64().unwrap() > 8_000,
        "the page looks blank: {stats}"
    );
    assert!(
        stats["colored"].as_u64().unwrap() > 40_000,
        "few coloured pixels: {stats}"
    );
    // Bars of each chart, in their own colours.
    assert!(
        count(&stats, "diff") > 15_000,
        "difference histogram bars: {stats}"
    );
    assert!(
        count(&stats, "logged") > 8_000,
        "logged latency bars: {stats}"
    );
    assert!(
        count(&stats, "candidate") > 8_000,
        "candidate latency bars: {stats}"
    );

    // The browser parsed the charts as SVG and the matrix as a table, and
    // the hostile label stayed text.
    for needle in [
        "<svg id=\"chart-diff-probabilities\"",
        "<svg id=\"chart-latency\"",
        "<table id=\"confusion-label\"",
        "<table id=\"worst\"",
    ] {
        assert!(dom.contains(needle), "{needle} missing from the DOM");
    }
    assert_eq!(dom.matches("<rect class=\"bar\"").count(), 12 + 16 + 16);
    assert_eq!(dom.matches("class=\"marker\"").count(), 4);
    assert!(!dom.contains("<script"), "a label became a script element");
    assert!(!dom.contains("<img"), "a request id became an image");

    // Control: with nothing replayed there are no bars, and the check sees
    // that.
    let (empty, dom) = shoot(&RescoreReport::default(), "empty");
    assert!(dom.contains("<svg id=\"chart-latency\""));
    assert_eq!(dom.matches("<rect class=\"bar\"").count(), 0);
    assert!(count(&empty, "diff") < 500, "{empty}");
    assert!(count(&empty, "candidate") < 1_000, "{empty}");
    assert!(
        empty["colored"].as_u64().unwrap() * 4 < stats["colored"].as_u64().unwrap(),
        "the empty report is as colourful as the full one: {empty} vs {stats}"
    );
}

//! The OTLP receiver the telemetry tests export to: a Python process built
//! on the official OpenTelemetry protobuf definitions
//! (`tests/python/otlp_receiver.py`) that writes each export it decodes as
//! one JSON line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::{python_env, repo_root};

/// Starts the receiver on a free loopback port, with extra arguments
/// (e.g. `--tls-cert`); the process, its port and the file it writes.
pub fn otlp_receiver_with(dir: &Path, extra: &[&str]) -> (Child, u16, PathBuf) {
    let out = dir.join("otlp.jsonl");
    let mut child = Command::new(python_env())
        .arg(repo_root().join("tests/python/otlp_receiver.py"))
        .args(["--port", "0", "--out"])
        .arg(&out)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the OTLP receiver");
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("receiver said {line:?}"));
    (child, port, out)
}

/// The exports the receiver has written so far.
pub fn otlp_exports(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The spans of trace exports.
pub fn otlp_spans(exports: &[Value]) -> Vec<Value> {
    exports
        .iter()
        .filter(|e| e["signal"] == "traces")
        .flat_map(|e| {
            e["resourceSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
                .flat_map(|sc| sc["spans"].as_array().into_iter().flatten())
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect()
}

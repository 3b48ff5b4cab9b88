//! The test-support Prometheus server works: it scrapes a static
//! exposition served by `python3 -m http.server`, answers queries with the
//! scraped series, follows a change of value, reports bad queries as
//! errors, and is gone once dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use edgeserve_test_support::{Prometheus, tempfile};

/// `python3 -m http.server` on a free loopback port, killed on drop.
struct StaticServer {
    child: Child,
    port: u16,
}

impl StaticServer {
    fn start(dir: &std::path::Path) -> StaticServer {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is needed for this test");
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        StaticServer { child, port }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn exposition(value: u64) -> String {
    format!(
        "# HELP helper_requests_total Requests served.\n\
         # TYPE helper_requests_total counter\n\
         helper_requests_total{{model=\"iris\",outcome=\"ok\"}} {value}\n"
    )
}

#[test]
fn prometheus_scrapes_a_target_and_answers_queries() {
    let www = tempfile::tempdir().unwrap();
    let file = www.path().join("metrics.txt");
    std::fs::write(&file, exposition(42)).unwrap();
    let target = StaticServer::start(www.path());

    let prom = Prometheus::start(&format!("127.0.0.1:{}", target.port), "/metrics.txt").unwrap();
    let series = prom
        .wait_for("helper_requests_total", Duration::from_secs(30))
        .unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
    let labels = &series[0]["metric"];
    assert_eq!(labels["model"], "iris");
    assert_eq!(labels["outcome"], "ok");
    assert_eq!(labels["job"], "edgeserve");
    assert_eq!(Prometheus::value(&series[0]), Some(42.0));

    let up = prom.query("up").unwrap();
    assert_eq!(up.len(), 1);
    assert_eq!(Prometheus::value(&up[0]), Some(1.0));

    // Scrapes go on every second: a new value shows.
    std::fs::write(&file, exposition(43)).unwrap();
    let series = prom
        .wait_for("helper_requests_total == 43", Duration::from_secs(15))
        .unwrap();
    assert_eq!(Prometheus::value(&series[0]), Some(43.0));

    assert!(prom.query("no_such_metric").unwrap().is_empty());
    let err = prom.query("sum(rate(").unwrap_err().to_string();
    assert!(err.contains("parse error"), "{err}");

    let addr = prom.addr().to_string();
    drop(prom);
    assert!(
        TcpStream::connect(&addr).is_err(),
        "prometheus still listens on {addr} after drop"
    );
}

//! A real Prometheus server for the tests: Debian's `prometheus` binary
//! (installed by `scripts/test-deps`), scraping one target every second,
//! with a query helper for its HTTP API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A `prometheus` process on a free loopback port that scrapes
/// `http://<target><metrics_path>` every second. Killed on drop.
///
/// Prometheus starts scraping a few seconds after it is ready (its target
/// discovery publishes at most every 5 s): use [`Prometheus::wait_for`]
/// for the first samples.
pub struct Prometheus {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Writes a `prometheus.yml` (job `edgeserve`, scrape interval 1 s),
    /// starts the server with its storage in a temporary folder and waits
    /// (up to 30 s) until `/-/ready` answers.
    pub fn start(target: &str, metrics_path: &str) -> Result<Prometheus> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("prometheus.yml");
        // JSON strings are valid YAML double-quoted scalars.
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: edgeserve\n    metrics_path: {}\n    \
                 static_configs:\n      - targets: [{}]\n",
                serde_json::to_string(metrics_path)?,
                serde_json::to_string(target)?
            ),
        )?;
        let mut last_log = String::new();
        // A free port can be taken between finding it and Prometheus
        // binding it: try a few.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let addr = format!("127.0.0.1:{port}");
            let mut child = match Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
            {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                    "the `prometheus` binary is not installed: run scripts/test-deps as root, \
                     or `sudo apt-get install --no-install-recommends prometheus`"
                ),
                Err(e) => return Err(e).context("spawn prometheus"),
            };
            let log = capture(&mut child);
            match wait_ready(&mut child, &addr, &log) {
                Ok(true) => {
                    return Ok(Prometheus {
                        child,
                        addr,
                        log,
                        _dir: dir,
                    });
                }
                Ok(false) => last_log = read(&log),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            }
            if !last_log.contains("address already in use") {
                break;
            }
        }
        bail!("prometheus did not become ready:\n{last_log}")
    }

    /// `127.0.0.1:<port>` of its web UI and API.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Runs an instant query (`/api/v1/query`) and returns `data.result`:
    /// for a vector, one `{"metric": {labels}, "value": [time, "value"]}`
    /// per series. An error when Prometheus answers with an error (a bad
    /// query).
    pub fn query(&self, promql: &str) -> Result<Vec<Value>> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let (status, body) = http_get(&self.addr, &path)?;
        let answer: Value = serde_json::from_str(&body)
            .with_context(|| format!("query {promql}: HTTP {status}: {body}"))?;
        if answer["status"] != "success" {
            bail!("query {promql}: HTTP {status}: {}", answer);
        }
        match &answer["data"]["result"] {
            Value::Array(items) => Ok(items.clone()),
            other => bail!("query {promql}: unexpected result {other}"),
        }
    }

    /// Runs the query until it returns at least one series (or the
    /// timeout passes), and returns them.
    pub fn wait_for(&self, promql: &str, timeout: Duration) -> Result<Vec<Value>> {
        let started = Instant::now();
        loop {
            let result = self.query(promql)?;
            if !result.is_empty() {
                return Ok(result);
            }
            if started.elapsed() > timeout {
                bail!(
                    "`{promql}` returned nothing within {timeout:?}; targets: {}\nprometheus log:\n{}",
                    http_get(&self.addr, "/api/v1/targets")
                        .map(|(_, body)| body)
                        .unwrap_or_default(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The sample value of one series of a query result.
    pub fn value(series: &Value) -> Option<f64> {
        series["value"][1].as_str()?.parse().ok()
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        read(&self.log)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `/-/ready` at `addr` answered 200 within 30 s; `false` when
/// the process exited first. An error when it neither exits nor gets
/// ready.
fn wait_ready(child: &mut Child, addr: &str, log: &Mutex<String>) -> Result<bool> {
    let timeout = Duration::from_secs(30);
    let started = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            // Let the log threads catch up.
            std::thread::sleep(Duration::from_millis(100));
            return Ok(false);
        }
        if let Ok((200, _)) = http_get(addr, "/-/ready") {
            return Ok(true);
        }
        if started.elapsed() > timeout {
            bail!(
                "prometheus was not ready within {timeout:?}:\n{}",
                read(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(log: &Mutex<String>) -> String {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Collects a child's stdout and stderr lines.
fn capture(child: &mut Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let streams = [
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    for stream in streams.into_iter().flatten() {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut l) = log.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
    }
    log
}

/// A plain HTTP/1.0 GET (the server closes the connection after the
/// body, which is never chunked): status and body.
fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let timeout = Duration::from_secs(10);
    let socket = addr
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("no address for {addr}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("GET {path}: no end of headers in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("GET {path}: bad status line in {head:?}"))?;
    Ok((status, body.to_string()))
}

/// Percent-encodes a query-string value (everything but RFC 3986
/// unreserved characters).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

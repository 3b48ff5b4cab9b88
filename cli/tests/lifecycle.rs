//! Start-up from a config file, flag overrides, and graceful shutdown.

use std::time::{Duration, Instant};

use edgeserve_test_support::{Repo, Server, components};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn slow_repo() -> Repo {
    let repo = Repo::new().unwrap();
    repo.add(
        "slow",
        "1",
        components::FAULTY,
        "[limits]\ndeadline = \"10s\"\n[config]\nmode = \"echo\"\n",
    )
    .unwrap();
    repo
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    for sig in ["TERM", "INT"] {
        let repo = slow_repo();
        let mut s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
        let url = s.url("/v2/models/slow/infer");
        let inflight = std::thread::spawn(move || {
            let body = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [7]}],
                              "parameters": {"spin_ms": 1500}});
            let r = reqwest::blocking::Client::new()
                .post(url)
                .json(&body)
                .send()
                .unwrap();
            (r.status().as_u16(), r.text().unwrap())
        });
        // Wait until the request is running inside the model.
        let started = Instant::now();
        assert!(
            s.wait_for_log("spinning for 1500 ms", Duration::from_secs(30)),
            "{}",
            s.log()
        );
        s.signal(sig).unwrap();
        assert!(
            s.wait_for_log("shutting down", Duration::from_secs(5)),
            "{}",
            s.log()
        );
        // No new connections once shutdown began.
        let refused = reqwest::blocking::Client::new()
            .get(s.url("/v2/health/live"))
            .timeout(Duration::from_secs(2))
            .send();
        assert!(refused.is_err(), "accepted a connection while draining");
        let (status, body) = inflight.join().unwrap();
        assert_eq!(status, 200, "in-flight request must finish: {body}");
        assert!(started.elapsed() >= Duration::from_millis(1500));
        let exit = s.wait_exit(Duration::from_secs(10)).unwrap();
        assert!(exit.success(), "SIG{sig}: exit {exit:?}\n{}", s.log());
        assert!(s.log().contains("all connections drained"));
    }
}

#[test]
fn config_file_with_flags_overriding_it() {
    let repo = slow_repo();
    let dir = tempfile_path("cfg");
    let cfg = dir.join("edgeserve.toml");
    // The file asks for a port that the flag overrides (the test harness
    // passes --listen 127.0.0.1:0), a body limit, and a repository.
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:1\"\nmax_body = \"2KiB\"\n[repository]\npath = {:?}\n[model_defaults]\ndeadline = \"5s\"\n",
            repo.path().to_str().unwrap()
        ),
    )
    .unwrap();
    let s = Server::start(BIN, &["--config", cfg.to_str().unwrap()]).unwrap();
    assert!(!s.addr.ends_with(":1"));
    let c = reqwest::blocking::Client::new();
    let r = c
        .post(s.url("/v2/models/slow/infer"))
        .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(4096)))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413, "max_body from the file applies");
    drop(s);

    // Unknown keys are refused with a clear message.
    std::fs::write(&cfg, "[server]\nlisten_address = \"127.0.0.1:0\"\n").unwrap();
    let err = Server::start(
        BIN,
        &["--config", cfg.to_str().unwrap(), "--repository", "."],
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("unknown field `listen_address`"),
        "{err}"
    );
    // Nothing to serve (no repository, no admin API) is a clear start-up
    // error, and so is an admin API off loopback without a token.
    let err = Server::start(BIN, &["--no-admin"]).err().unwrap();
    assert!(err.to_string().contains("no model repository"), "{err}");
    let err = Server::start(BIN, &["--admin-listen", "0.0.0.0:0"])
        .err()
        .unwrap();
    assert!(err.to_string().contains("without a token"), "{err}");
}

fn tempfile_path(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeserve-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn slow_clients_are_cut_off() {
    use std::io::{Read, Write};
    let repo = slow_repo();
    let dir = tempfile_path("slow");
    let cfg = dir.join("edgeserve.toml");
    std::fs::write(
        &cfg,
        "[server]\nheader_read_timeout = \"500ms\"\nbody_read_timeout = \"500ms\"\n",
    )
    .unwrap();
    let s = Server::start(
        BIN,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--repository",
            repo.path().to_str().unwrap(),
        ],
    )
    .unwrap();
    // Headers complete, body never arrives: 408 in the protocol's shape.
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(
        b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"in",
    )
    .unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    // Headers never finish: the connection is closed.
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = conn.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slow headers were not cut off"
    );
    // A connection that sends nothing at all is closed too.
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = conn.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a silent connection was kept"
    );
    // The server is fine.
    let r = reqwest::blocking::get(s.url("/v2/health/live")).unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn a_port_in_use_fails_at_once_before_any_model_compiles() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let repo = Repo::examples().unwrap();
    let state = edgeserve_test_support::tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "serve",
            "--repository",
            repo.path().to_str().unwrap(),
            "--listen",
            &addr,
            "--admin-listen",
            "127.0.0.1:0",
            "--state-dir",
            state.path().to_str().unwrap(),
        ])
        .env("EDGESERVE_LOG", "info")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on {addr} for the data plane (is another"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--listen"), "{stderr}");
    // Nothing was compiled or loaded first.
    for log in [&stderr, &stdout] {
        assert!(!log.contains("loaded model="), "{log}");
        assert!(!log.contains("compiling"), "{log}");
    }
    drop(taken);
}

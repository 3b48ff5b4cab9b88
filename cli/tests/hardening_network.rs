//! Attacks from the network, performed against a real server on loopback.
//! The attacker connects from 127.0.0.2 (and .3), the honest client from
//! 127.0.0.1, so per-address limits can tell them apart: bodies declared
//! huge and never sent (HTTP/1.1 and HTTP/2), bodies trickled or stalled,
//! one address sending real bytes on many connections, idle HTTP/2
//! connections that answer pings, and requests whose decoded form would
//! dwarf their body. Each test asserts the honest client is still served.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeserve_test_support::{Repo, Server, components, tempfile};
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn start(config: &str) -> (Server, Repo, tempfile::TempDir) {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = edgeserve_test_support::start_with_config(BIN, &repo, dir.path(), config).unwrap();
    (s, repo, dir)
}

fn addr(s: &Server) -> SocketAddr {
    s.addr.parse().unwrap()
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

const IRIS: &str =
    r#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}"#;

/// One Iris inference over HTTP/1.1 from 127.0.0.1; its status and time.
async fn honest(to: SocketAddr) -> (u16, Duration) {
    let started = Instant::now();
    let stream = connect_from("127.0.0.1", to).await;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post("/v2/models/iris/infer")
        .header("host", to.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(IRIS.as_bytes())))
        .unwrap();
    let status = match send.send_request(req).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    };
    (status, started.elapsed())
}

/// Honest requests back to back for `how_long`; every status seen.
async fn honest_for(to: SocketAddr, how_long: Duration) -> Vec<u16> {
    let end = Instant::now() + how_long;
    let mut seen = Vec::new();
    while Instant::now() < end {
        seen.push(honest(to).await.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// A request body that never sends a byte.
struct Never;

impl hyper::body::Body for Never {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_declared_huge_and_never_sent_hold_nothing() {
    // The default budgets: 256 MiB in all, 32 MiB bodies.
    let (s, _repo, _dir) = start("");
    let to = addr(&s);
    // Eight HTTP/1.1 sockets from 127.0.0.2, each declaring 32 MiB.
    let mut h1 = Vec::new();
    for _ in 0..8 {
        let mut c = connect_from("127.0.0.2", to).await;
        c.write_all(
            format!(
                "POST /v2/models/iris/infer HTTP/1.1\r\nhost: {to}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                32 << 20
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        h1.push(c);
    }
    // One HTTP/2 connection from 127.0.0.3 with eight such streams.
    let stream = connect_from("127.0.0.3", to).await;
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut h2 = Vec::new();
    for _ in 0..8 {
        let mut send = send.clone();
        let req = hyper::Request::post(format!("http://{to}/v2/models/iris/infer"))
            .header("content-length", (32u64 << 20).to_string())
            .body(Never)
            .unwrap();
        h2.push(tokio::spawn(async move { send.send_request(req).await }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = honest_for(to, Duration::from_secs(2)).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|&s| s == 200),
        "{seen:?}"
    );
    drop((h1, h2));
}

/// Config with short body limits, for the slow-client tests.
const SLOW: &str =
    "[server]\nbody_read_timeout = \"20s\"\nbody_idle_timeout = \"1s\"\nbody_min_rate = \"1KiB\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trickled_and_stalled_bodies_are_cut_off() {
    let (s, _repo, _dir) = start(SLOW);
    let to = addr(&s);
    let head = move |len: usize| {
        format!(
            "POST /v2/models/iris/infer HTTP/1.1\r\nhost: {to}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
        )
    };
    // A trickle: one byte every 300 ms keeps under the gap but far below
    // 1 KiB/s once the 1 s grace is over.
    let trickle = tokio::spawn(async move {
        let mut c = connect_from("127.0.0.2", to).await;
        c.write_all(head(4096).as_bytes()).await.unwrap();
        let started = Instant::now();
        for _ in 0..100 {
            if c.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut buf = [0u8; 512];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(1), c.read(&mut buf)).await
                && n > 0
            {
                return (
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                    started.elapsed(),
                );
            }
        }
        (String::new(), started.elapsed())
    });
    // A stall: half a body, then nothing.
    let stall = tokio::spawn(async move {
        let mut c = connect_from("127.0.0.3", to).await;
        c.write_all(head(100).as_bytes()).await.unwrap();
        c.write_all(&[b' '; 50]).await.unwrap();
        let started = Instant::now();
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        (
            String::from_utf8_lossy(&buf[..n]).into_owned(),
            started.elapsed(),
        )
    });
    let seen = honest_for(to, Duration::from_secs(2)).await;
    assert!(seen.iter().all(|&s| s == 200), "{seen:?}");
    let (answer, took) = trickle.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_min_rate"), "{answer}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let (answer, took) = stall.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_idle_timeout"), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// A JSON body of about `n` bytes that fails to decode (it is padding),
/// sent at `rate` bytes per second from `from`; the answer's status.
async fn upload(from: &'static str, to: SocketAddr, n: usize, rate: usize) -> u16 {
    let mut c = connect_from(from, to).await;
    let head = format!(
        "POST /v2/models/iris/infer HTTP/1.1\r\nhost: {to}\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n\r\n"
    );
    if c.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = vec![b' '; (rate / 10).max(1)];
    let mut sent = 0;
    while sent < n {
        let k = chunk.len().min(n - sent);
        if c.write_all(&chunk[..k]).await.is_err() {
            break;
        }
        sent += k;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(20), c.read(&mut buf)).await {
        Ok(Ok(n)) if n >= 12 => std::str::from_utf8(&buf[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_cannot_take_the_servers_memory() {
    // 8 MiB for everyone, 2 MiB per address: an address sending real bytes
    // on ten connections gets 2 MiB of it, and is told to slow down.
    let (s, _repo, _dir) = start(
        "[server]\nmax_body = \"1MiB\"\nmax_inflight_body = \"8MiB\"\nmax_inflight_body_per_peer = \"2MiB\"\nbudget_wait = \"200ms\"\n",
    );
    let to = addr(&s);
    let flood: Vec<_> = (0..10)
        .map(|_| tokio::spawn(upload("127.0.0.2", to, 1 << 20, 1 << 20)))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = honest_for(to, Duration::from_secs(1)).await;
    assert!(seen.iter().all(|&s| s == 200), "{seen:?}");
    let mut statuses = Vec::new();
    for f in flood {
        statuses.push(f.await.unwrap());
    }
    assert!(
        statuses.contains(&429),
        "the flood was limited: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_request_waits_briefly_for_room() {
    // One upload holds almost the whole budget for about a second; a small
    // request that arrives meanwhile waits for it instead of failing.
    let (s, _repo, _dir) = start(
        "[server]\nmax_body = \"4MiB\"\nmax_inflight_body = \"4MiB\"\nbudget_wait = \"5s\"\n",
    );
    let to = addr(&s);
    // All but the last bytes of a body that fills the budget, then a pause.
    let big = tokio::spawn(async move {
        let n = (4 << 20) - 64;
        let mut c = connect_from("127.0.0.2", to).await;
        let head = format!(
            "POST /v2/models/iris/infer HTTP/1.1\r\nhost: {to}\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n\r\n"
        );
        c.write_all(head.as_bytes()).await.unwrap();
        c.write_all(&vec![b' '; n - 10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.write_all(&[b' '; 10]).await.unwrap();
        let mut buf = [0u8; 12];
        c.read_exact(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, took) = honest(to).await;
    assert_eq!(status, 200);
    assert!(took > Duration::from_millis(500), "it waited: {took:?}");
    // The upload itself cannot be joined within the budget (its pieces and
    // the whole at once), so it alone is refused.
    assert_eq!(big.await.unwrap(), "HTTP/1.1 413");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_http2_connections_are_closed_and_capped_per_address() {
    let (s, _repo, _dir) =
        start("[server]\nidle_timeout = \"1s\"\n\n[admin]\nmax_connections_per_peer = 4\n");
    let admin: SocketAddr = s.admin_addr.as_deref().unwrap().parse().unwrap();
    let to = addr(&s);
    // 64 idle h2c connections to the admin API that answer every ping.
    let mut idle = Vec::new();
    for _ in 0..64 {
        let stream = connect_from("127.0.0.2", admin).await;
        if let Ok((send, conn)) = hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(
            TokioExecutor::new(),
            TokioIo::new(stream),
        )
        .await
        {
            idle.push((send, tokio::spawn(conn)));
        }
    }
    // The operator still gets in at once.
    let started = Instant::now();
    let stream = connect_from("127.0.0.1", admin).await;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/admin/v1/health")
        .header("host", admin.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = send.send_request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The server refuses the excess at accept; each client task ends when
    // it reads that close, which may come a moment after the operator's
    // answer on a busy machine.
    let open = || idle.iter().filter(|(_, c)| !c.is_finished()).count();
    let waited = Instant::now();
    while open() > 4 && waited.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let open = open();
    assert!(open <= 4, "{open} idle admin connections from one address");

    // On the data plane, an idle h2 connection is closed after idle_timeout.
    let stream = connect_from("127.0.0.3", to).await;
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::post(format!("http://{to}/v2/models/iris/infer"))
        .body(Full::new(Bytes::from_static(IRIS.as_bytes())))
        .unwrap();
    let r = h2.send_request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.into_body().collect().await;
    let closed = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(closed.is_ok(), "the idle h2 connection is still open");
    let (status, _) = honest(to).await;
    assert_eq!(status, 200);
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decoded_requests_stay_within_the_memory_budget() {
    let (s, _repo, _dir) = start("");
    let to = addr(&s);
    let pid = s.pid();
    let before = rss_mib(pid);
    // Binary BYTES requests of ~32 MiB: one of one-byte elements (its
    // decoded form would be ten times its body), and eight of 100-byte
    // elements at once (each within the limit, together past the budget).
    let body = |element: usize| {
        let n = (31 << 20) / (element + 4);
        let header = json!({"inputs": [{"name": "input", "shape": [n], "datatype": "BYTES",
            "parameters": {"binary_data_size": n * (element + 4)}}]})
        .to_string();
        let mut b = header.clone().into_bytes();
        for _ in 0..n {
            b.extend((element as u32).to_le_bytes());
            b.extend(std::iter::repeat_n(b'a', element));
        }
        (Bytes::from(b), header.len())
    };
    // Each from its own address, so the server-wide budget is what limits
    // them. A request refused while its body is still being sent may see
    // its connection closed (status 0).
    let send = |(b, h): (Bytes, usize), from: String| async move {
        let stream = connect_from(&from, to).await;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::post("/v2/models/iris/infer")
            .header("host", to.to_string())
            .header("inference-header-content-length", h.to_string())
            .body(Full::new(b))
            .unwrap();
        let Ok(r) = send.send_request(req).await else {
            return (0, Value::Null);
        };
        let status = r.status().as_u16();
        let body: Value =
            serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes())
                .unwrap_or(Value::Null);
        (status, body)
    };
    let (status, answer) = send(body(1), "127.0.0.2".into()).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("max_decoded"),
        "{answer}"
    );

    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_mib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let big = body(100);
    let calls: Vec<_> = (0..8)
        .map(|i| tokio::spawn(send(big.clone(), format!("127.0.0.{}", 10 + i))))
        .collect();
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap().0);
    }
    sampler.abort();
    // Each decodes (and then fails the model's input check) or is told the
    // server is full; none is lost and the honest client is served.
    assert!(
        statuses.iter().all(|s| [0, 400, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&400), "some were decoded: {statuses:?}");
    let (status, _) = honest(to).await;
    assert_eq!(status, 200);
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    // The server-wide budget is 256 MiB; the process stays well within it
    // plus its own baseline (before: the fix, 949 MiB peak).
    assert!(peak < before + 400, "peak RSS {peak} MiB (from {before})");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_mib(pid);
    eprintln!("RSS: before {before} MiB, peak {peak} MiB, after {after} MiB; {statuses:?}");
    assert!(
        after < before + 96,
        "RSS after: {after} MiB (from {before})"
    );
}

//! A closed-loop load generator: `concurrency` keep-alive HTTP/1.1
//! connections, each sending the same POST back to back for a warm-up and
//! then a measured duration. Prints one JSON line with requests/s, errors
//! and exact latency percentiles (every latency is kept).
//!
//! With a `grpc://` URL each connection is HTTP/2 (h2c, prior knowledge,
//! as gRPC clients connect) with one unary call in flight: BODY_FILE is the
//! request message, sent in gRPC's framing; a call counts as answered when
//! its `grpc-status` is 0; `LOADGEN_CONNECTIONS=N` has the workers share
//! N connections instead (calls multiplexed, as a gRPC channel does).
//! `loadgen grpc-body` writes an Iris request. An `h2c://` URL sends the
//! REST request over HTTP/2 the same way (to tell HTTP/2's cost from
//! gRPC's).
//!
//! Usage: loadgen URL BODY_FILE CONCURRENCY SECONDS [WARMUP_SECONDS] [HEADER=VALUE...]
//!        loadgen grpc-body MODEL BATCH raw|typed OUT_FILE

mod grpc;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

struct Args {
    grpc: bool,
    /// HTTP/2 (h2c, prior knowledge): gRPC, or REST with an `h2c://` URL.
    h2: bool,
    authority: String,
    path: String,
    body: Bytes,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    headers: Vec<(String, String)>,
}

fn parse() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 4 {
        return Err("usage: loadgen URL BODY_FILE CONCURRENCY SECONDS [WARMUP] [H=V...]".into());
    }
    let (grpc, h2, rest) = if let Some(rest) = a[0].strip_prefix("grpc://") {
        (true, true, rest)
    } else if let Some(rest) = a[0].strip_prefix("h2c://") {
        (false, true, rest)
    } else {
        let rest = a[0]
            .strip_prefix("http://")
            .ok_or("URL must start with http://, h2c:// or grpc://")?;
        (false, false, rest)
    };
    let (authority, path) = rest.split_once('/').ok_or("URL needs a path")?;
    let mut body = std::fs::read(&a[1]).map_err(|e| format!("{}: {e}", a[1]))?;
    if grpc {
        body = grpc::frame(&body);
    }
    let num = |s: &str| s.parse::<f64>().map_err(|e| format!("{s}: {e}"));
    Ok(Args {
        grpc,
        h2,
        authority: authority.to_string(),
        path: format!("/{path}"),
        body: Bytes::from(body),
        concurrency: num(&a[2])? as usize,
        duration: Duration::from_secs_f64(num(&a[3])?),
        warmup: Duration::from_secs_f64(a.get(4).map_or(Ok(1.0), |s| num(s))?),
        headers: a
            .iter()
            .skip(5)
            .filter_map(|h| {
                h.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    })
}

async fn worker(args: &Args, measure_from: Instant, end: Instant) -> (Vec<u32>, u64) {
    let mut lat = Vec::with_capacity(1 << 16);
    let mut errors = 0u64;
    'reconnect: while Instant::now() < end {
        let Ok(stream) = tokio::net::TcpStream::connect(&args.authority).await else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < end {
            let mut req = Request::post(args.path.as_str()).header("host", args.authority.as_str());
            for (k, v) in &args.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let Ok(req) = req.body(Full::new(args.body.clone())) else {
                errors += 1;
                continue;
            };
            let t = Instant::now();
            let ok = match sender.send_request(req).await {
                Ok(resp) => {
                    let good = resp.status().is_success();
                    good && resp.into_body().collect().await.is_ok()
                }
                Err(_) => false,
            };
            tally(
                &mut lat,
                &mut errors,
                (t, Instant::now()),
                ok,
                (measure_from, end),
            );
            if !ok {
                continue 'reconnect;
            }
        }
    }
    (lat, errors)
}

/// Counts a request that ran over `took` (start, end) if it lies inside
/// the measured `window`: its latency when it succeeded, an error when not.
fn tally(
    lat: &mut Vec<u32>,
    errors: &mut u64,
    took: (Instant, Instant),
    ok: bool,
    window: (Instant, Instant),
) {
    let ((t, done), (from, end)) = (took, window);
    if t < from || done > end {
        return;
    }
    if ok {
        lat.push(done.duration_since(t).as_micros().min(u32::MAX as u128) as u32);
    } else {
        *errors += 1;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("grpc-body") {
        let a: Vec<String> = std::env::args().skip(2).collect();
        if let Err(e) = grpc::write_body(&a) {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
        return;
    }
    let args = match parse() {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    // gRPC: LOADGEN_CONNECTIONS=N shares N HTTP/2 connections among the
    // workers (as gRPC clients multiplex calls on one channel); by default
    // each worker has its own, like the HTTP/1.1 workers.
    let mut shared = Vec::new();
    if args.h2
        && let Some(n) = std::env::var("LOADGEN_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    {
        for _ in 0..n.max(1) {
            match grpc::connect(&args.authority).await {
                Some(s) => shared.push(s),
                None => {
                    eprintln!("loadgen: cannot connect to {}", args.authority);
                    std::process::exit(1);
                }
            }
        }
    }
    let mut tasks = Vec::new();
    for i in 0..args.concurrency {
        let args = args.clone();
        let conn = (!shared.is_empty()).then(|| shared[i % shared.len()].clone());
        tasks.push(tokio::spawn(async move {
            if args.h2 {
                grpc::worker(&args, conn, measure_from, end).await
            } else {
                worker(&args, measure_from, end).await
            }
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            errors += e;
        }
    }
    all.sort_unstable();
    let pct = |p: f64| -> u32 {
        if all.is_empty() {
            0
        } else {
            all[((p / 100.0) * (all.len() - 1) as f64).round() as usize]
        }
    };
    let secs = args.duration.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "concurrency": args.concurrency,
            "requests": all.len(),
            "errors": errors,
            "rps": all.len() as f64 / secs,
            "p50_us": pct(50.0),
            "p99_us": pct(99.0),
            "p999_us": pct(99.9),
            "max_us": all.last().copied().unwrap_or(0),
        })
    );
}

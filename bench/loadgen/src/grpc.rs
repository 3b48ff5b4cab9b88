//! The HTTP/2 half: unary gRPC calls (or REST requests) over h2c, and the
//! Iris request message.

use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeserve_grpc::proto::model_infer_request::InferInputTensor;
use edgeserve_grpc::proto::{InferTensorContents, ModelInferRequest};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;

use super::Args;

/// One Iris row, repeated for a batch.
const ROW: [f32; 4] = [5.1, 3.5, 1.4, 0.2];

/// A message in gRPC's framing: uncompressed, its length, itself.
pub(crate) fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// `grpc-body MODEL BATCH raw|typed OUT_FILE`: an Iris request of BATCH
/// rows, in `raw_input_contents` (what tritonclient sends) or in
/// `fp32_contents`.
pub(crate) fn write_body(a: &[String]) -> Result<(), String> {
    let [model, batch, how, out] = a else {
        return Err("usage: loadgen grpc-body MODEL BATCH raw|typed OUT_FILE".into());
    };
    let batch: usize = batch.parse().map_err(|e| format!("{batch}: {e}"))?;
    let values: Vec<f32> = ROW.iter().copied().cycle().take(batch * 4).collect();
    let mut input = InferInputTensor {
        name: "input".into(),
        datatype: "FP32".into(),
        shape: vec![batch as i64, 4],
        ..Default::default()
    };
    let mut raw = Vec::new();
    match how.as_str() {
        "raw" => raw.push(Bytes::from(
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        )),
        "typed" => {
            input.contents = Some(InferTensorContents {
                fp32_contents: values,
                ..Default::default()
            });
        }
        other => return Err(format!("{other}: say raw or typed")),
    }
    let req = ModelInferRequest {
        model_name: model.clone(),
        inputs: vec![input],
        raw_input_contents: raw,
        ..Default::default()
    };
    std::fs::write(out, req.encode_to_vec()).map_err(|e| format!("{out}: {e}"))
}

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// A new HTTP/2 connection.
pub(crate) async fn connect(authority: &str) -> Option<Sender> {
    let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// Calls back to back, one at a time, on `shared` (an HTTP/2 connection
/// other workers may use too) or on a connection of its own (and a new
/// one after a failure); the latencies of those answered inside the
/// measured window.
pub(crate) async fn worker(
    args: &Args,
    shared: Option<Sender>,
    measure_from: Instant,
    end: Instant,
) -> (Vec<u32>, u64) {
    let mut lat = Vec::with_capacity(1 << 16);
    let mut errors = 0u64;
    let uri = format!("http://{}{}", args.authority, args.path);
    let mut shared = shared;
    'reconnect: while Instant::now() < end {
        let mut sender = match shared.take() {
            Some(s) => s,
            None => match connect(&args.authority).await {
                Some(s) => s,
                None => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        while Instant::now() < end {
            let mut req = Request::post(uri.as_str());
            req = match args.grpc {
                true => req
                    .header("content-type", "application/grpc")
                    .header("te", "trailers"),
                false => req.header("content-type", "application/json"),
            };
            for (k, v) in &args.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let Ok(req) = req.body(Full::new(args.body.clone())) else {
                errors += 1;
                continue;
            };
            let t = Instant::now();
            let ok = match sender.send_request(req).await {
                Ok(resp) if args.grpc => answered(resp).await,
                Ok(resp) => resp.status().is_success() && resp.collect().await.is_ok(),
                Err(_) => false,
            };
            super::tally(
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

/// Whether a call succeeded: HTTP 200 and `grpc-status: 0` (in the
/// trailers, or in the headers of a trailers-only answer).
async fn answered(resp: hyper::Response<hyper::body::Incoming>) -> bool {
    if !resp.status().is_success() {
        return false;
    }
    let (parts, body) = resp.into_parts();
    if let Some(s) = parts.headers.get("grpc-status") {
        return s == "0";
    }
    match body.collect().await {
        Ok(collected) => collected
            .trailers()
            .and_then(|t| t.get("grpc-status"))
            .is_some_and(|s| s == "0"),
        Err(_) => false,
    }
}

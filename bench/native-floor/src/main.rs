//! The native floor for benchmarks: an HTTP server that decodes the same
//! OIP JSON with edgeserve's own codec, computes the Iris model natively in
//! Rust (the same weights as the example component), and encodes the same
//! response. The difference to edgeserve is the sandbox, routing and checks.
//!
//! Usage: native-floor 127.0.0.1:9000

use std::convert::Infallible;

use bytes::Bytes;
use edgeserve_oip::protocol::{HEADER_LENGTH, decode_request, encode_response};
use edgeserve_oip::tensor::{DataType, InferenceResponse, Tensor, TensorData};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the generated file is shared with the component and lists feature names too"
)]
mod weights {
    include!("../../../examples/iris/src/weights.rs");
}

fn predict(x: &[f32]) -> ([f32; 3], &'static str) {
    let mut logits = [0f32; 3];
    for (c, logit) in logits.iter_mut().enumerate() {
        *logit = weights::INTERCEPT[c]
            + weights::COEF[c]
                .iter()
                .zip(x)
                .map(|(w, v)| w * v)
                .sum::<f32>();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp = logits.map(|l| (l - max).exp());
    let sum: f32 = exp.iter().sum();
    let p = exp.map(|e| e / sum);
    let best = (0..3).fold(0, |b, c| if p[c] > p[b] { c } else { b });
    (p, weights::CLASSES[best])
}

fn error(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{{\"error\":{msg:?}}}"))));
    *r.status_mut() = status;
    r
}

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == hyper::Method::GET {
        // Readiness for the harness.
        return Ok(Response::new(Full::new(Bytes::from_static(
            b"{\"ready\":true}",
        ))));
    }
    let header_len = req
        .headers()
        .get(HEADER_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let Ok(body) = req.into_body().collect().await else {
        return Ok(error(StatusCode::BAD_REQUEST, "cannot read body"));
    };
    let body = body.to_bytes();
    let request = match decode_request(&body, header_len) {
        Ok(r) => r,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, &e.to_string())),
    };
    let Some(TensorData::Raw(raw)) = request.inputs.first().map(|t| &t.data) else {
        return Ok(error(StatusCode::BAD_REQUEST, "need one FP32 input"));
    };
    let x: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = x.len() / 4;
    let mut probs = Vec::with_capacity(n * 12);
    let mut labels = Vec::with_capacity(n);
    for row in x.chunks_exact(4) {
        let (p, label) = predict(row);
        probs.extend(p.iter().flat_map(|v| v.to_le_bytes()));
        labels.push(label.as_bytes().to_vec());
    }
    let response = InferenceResponse {
        parameters: vec![],
        outputs: vec![
            Tensor {
                name: "probabilities".into(),
                datatype: DataType::F32,
                shape: vec![n as i64, 3],
                data: TensorData::Raw(probs.into()),
            },
            Tensor {
                name: "label".into(),
                datatype: DataType::Bytes,
                shape: vec![n as i64],
                data: TensorData::Strings(labels.into_iter().collect()),
            },
        ],
    };
    let enc = encode_response("iris", "1", &request, &response);
    let mut resp = Response::new(Full::new(Bytes::from(enc.body)));
    if let Some(n) = enc.header_len {
        resp.headers_mut().insert(HEADER_LENGTH, n.into());
    }
    Ok(resp)
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("native-floor: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("native-floor listening on http://{addr}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                .await;
        });
    }
}

//! `ModelStreamInfer`: Triton's bidirectional stream, as
//! `tritonclient.grpc`'s `start_stream` / `async_stream_infer` use it. A
//! client keeps one stream open and sends requests whenever it likes; up
//! to [`PIPELINED`] of them run at once and their answers come back in the
//! order the requests came. A request that is refused or fails is answered
//! in its response's `error_message` (with its id) and the stream goes on;
//! a message that cannot be read, or the call's `grpc-timeout` passing,
//! ends the stream with that status, and so does the server shutting down
//! (UNAVAILABLE, once the requests in flight are answered). Each request is routed when it
//! arrives, so a stream outlives any number of version swaps.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeserve_grpc::proto::{ModelInferRequest, ModelStreamInferResponse};
use futures_util::{Stream, StreamExt};
use tokio::sync::watch;
use tonic::{Status, Streaming};

use super::status::deadline_exceeded;
use super::{Arrival, infer, stream_error};
use crate::pipeline::Pipeline;

/// The answers of one stream, as tonic sends them.
pub(crate) type Responses =
    Pin<Box<dyn Stream<Item = Result<ModelStreamInferResponse, Status>> + Send + 'static>>;

/// Requests of one stream that run at once. More wait in the stream (and
/// in HTTP/2 flow control behind it), not in memory of ours.
pub(crate) const PIPELINED: usize = 16;

/// One `ModelStreamInfer` call: what every request of the stream shares.
pub(super) struct Call {
    /// The pipeline.
    pub(super) pipeline: Arc<Pipeline>,
    /// The call's metadata: credentials and `traceparent` for every
    /// request.
    pub(super) headers: http::HeaderMap,
    /// The connection and the call's meter.
    pub(super) arrival: Arrival,
    /// The call's `grpc-timeout`, as an instant and as the client gave it.
    pub(super) deadline: Option<(Instant, Duration)>,
    /// True once the server shuts down.
    pub(super) stopping: watch::Receiver<bool>,
}

/// Answers each request of `incoming` through the pipeline. When the
/// server shuts down no further request is read; those in flight are
/// answered and the stream ends with UNAVAILABLE, so the client knows to
/// open a new one (and shutdown does not wait out a stream left open).
pub(super) fn responses(call: Call, incoming: Streaming<ModelInferRequest>) -> Responses {
    let Call {
        pipeline,
        headers,
        arrival,
        deadline,
        stopping,
    } = call;
    let headers = Arc::new(headers);
    let mut stop = stopping.clone();
    let stopped = async move {
        if stop.wait_for(|s| *s).await.is_err() {
            // No one will ever say stop.
            std::future::pending::<()>().await;
        }
    };
    let answers = incoming
        .take_until(stopped)
        .map(move |message| {
            let (pipeline, headers, arrival) = (pipeline.clone(), headers.clone(), arrival.clone());
            async move {
                let message = message?;
                let started = Instant::now();
                let id = message.id.clone();
                let result = infer(&pipeline, &headers, &arrival, message, started, deadline).await;
                if let Some(m) = &pipeline.metrics {
                    let code = result
                        .as_ref()
                        .map_or_else(|s| s.code(), |_| tonic::Code::Ok);
                    m.rpc_request("ModelStreamInfer", code as i32, started.elapsed());
                }
                Ok(match result {
                    Ok(response) => ModelStreamInferResponse {
                        error_message: String::new(),
                        infer_response: Some(response),
                    },
                    Err(status) => stream_error(id, &status),
                })
            }
        })
        .buffered(PIPELINED);
    let shutting_down = futures_util::stream::once(async move {
        let stopped = *stopping.borrow();
        stopped.then(|| {
            Err(Status::unavailable(
                "the server is shutting down: open a new stream (to another node, or once this \
                 one is back)",
            ))
        })
    })
    .filter_map(std::future::ready);
    let answers = answers.chain(shutting_down);
    match deadline {
        None => Box::pin(answers),
        Some((at, timeout)) => Box::pin(until(answers, at, timeout)),
    }
}

/// `answers` until `at`, then DEADLINE_EXCEEDED (which ends the call).
fn until(
    answers: impl Stream<Item = Result<ModelStreamInferResponse, Status>> + Send + 'static,
    at: Instant,
    timeout: Duration,
) -> impl Stream<Item = Result<ModelStreamInferResponse, Status>> + Send + 'static {
    let state = (
        Box::pin(answers),
        Box::pin(tokio::time::sleep_until(at.into())),
        false,
    );
    futures_util::stream::unfold(state, move |(mut answers, mut sleep, ended)| async move {
        if ended {
            return None;
        }
        tokio::select! {
            item = answers.next() => item.map(|item| (item, (answers, sleep, false))),
            () = &mut sleep => Some((Err(deadline_exceeded(timeout)), (answers, sleep, true))),
        }
    })
}

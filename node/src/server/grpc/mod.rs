//! The gRPC front-end: the Open Inference Protocol's
//! `inference.GRPCInferenceService` (what `tritonclient.grpc` and the
//! KServe SDK call), served on the data listener beside REST and routed
//! there by `content-type: application/grpc`.
//!
//! Every inference goes through the same [`Pipeline`] as REST's:
//! identity from metadata (`authorization`, `x-api-key`) or the client
//! certificate, tenants and quotas, policy chains, canary and shadow
//! routing, version pinning, memory budgets, metrics, traces
//! (`traceparent` metadata), drift and the prediction log. Only reading
//! and writing the messages differ ([`codec`]); errors are statuses with
//! REST's message text ([`status`]); a message's bytes are counted as they
//! arrive ([`meter`]); `ModelStreamInfer` pipelines a stream's requests
//! ([`stream`]).

mod codec;
mod meter;
mod status;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeserve_grpc::convert::{config_to_proto, metadata_to_proto};
use edgeserve_grpc::proto::grpc_inference_service_server::{
    GrpcInferenceService, GrpcInferenceServiceServer,
};
use edgeserve_grpc::proto::repository_index_response::ModelIndex;
use edgeserve_grpc::proto::{
    InferStatistics, ModelConfigRequest, ModelConfigResponse, ModelInferRequest,
    ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse, ModelReadyRequest,
    ModelReadyResponse, ModelStatistics, ModelStatisticsRequest, ModelStatisticsResponse,
    ModelStreamInferResponse, RepositoryIndexRequest, RepositoryIndexResponse, ServerLiveRequest,
    ServerLiveResponse, ServerMetadataRequest, ServerMetadataResponse, ServerReadyRequest,
    ServerReadyResponse, StatisticDuration,
};
use http::StatusCode;
use hyper::body::Incoming;
use tonic::codegen::Service;
use tonic::{Request, Response, Status, Streaming};

use crate::pipeline::{ApiError, ConnInfo, Inbound, Pipeline};
use codec::GrpcCodec;
use meter::{Meter, Metered};
use status::{client_timeout, deadline_exceeded, to_status};

/// The route inferences are traced under.
const MODEL_INFER: &str = "/inference.GRPCInferenceService/ModelInfer";

/// The gRPC service over the node's pipeline, ready to answer requests.
pub type GrpcService = GrpcInferenceServiceServer<GrpcFront>;

/// The service: the pipeline every call goes through.
pub struct GrpcFront {
    pipeline: Arc<Pipeline>,
    /// True once the server shuts down.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// The gRPC service for `pipeline`: messages up to `[server] max_body`;
/// streams end when `stopping` turns true.
pub fn service(
    pipeline: Arc<Pipeline>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> GrpcService {
    let max = pipeline.limits.body.max_body;
    GrpcInferenceServiceServer::new(GrpcFront { pipeline, stopping })
        .max_decoding_message_size(max)
        .max_encoding_message_size(usize::MAX)
}

/// Whether a request is a gRPC call (`content-type: application/grpc`,
/// with or without a `+proto` suffix).
pub fn is_grpc<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// What the listener knows about a call, handed to the service in the
/// request's extensions.
#[derive(Clone)]
struct Arrival {
    meter: Arc<Meter>,
    started: Instant,
}

/// Answers one gRPC call that arrived on `conn`.
pub async fn call(
    mut svc: GrpcService,
    pipeline: &Pipeline,
    req: http::Request<Incoming>,
    conn: Arc<ConnInfo>,
) -> http::Response<tonic::body::Body> {
    if req.version() != http::Version::HTTP_2 {
        return Status::unimplemented(
            "gRPC needs HTTP/2: connect with h2c (prior knowledge) or TLS with ALPN h2",
        )
        .into_http();
    }
    let meter = Arc::new(Meter::new(conn, pipeline.memory_budget().clone()));
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(Arrival {
        meter: meter.clone(),
        started: Instant::now(),
    });
    let rules = pipeline.limits.body.clone();
    let req = http::Request::from_parts(parts, Metered::new(body, meter, rules));
    match svc.call(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// The gRPC framing in front of each message: a flag and a length.
const FRAME_HEADER: u64 = 5;

/// One inference through the pipeline, the message's bytes handed from
/// the call's meter to the request's own account, within the client's
/// deadline (the model's own deadline bounds it too).
async fn infer(
    pipeline: &Pipeline,
    headers: &http::HeaderMap,
    arrival: &Arrival,
    mut message: ModelInferRequest,
    started: Instant,
    deadline: Option<(Instant, Duration)>,
) -> Result<ModelInferResponse, Status> {
    // The pipeline's codec counts the message from here on: the meter
    // gives it back (it would otherwise count twice until the call ends).
    arrival
        .meter
        .give_back(prost::Message::encoded_len(&message) as u64 + FRAME_HEADER);
    let model = std::mem::take(&mut message.model_name);
    let version = std::mem::take(&mut message.model_version);
    let inbound = Inbound {
        model: &model,
        version: Some(version.as_str()).filter(|v| !v.is_empty()),
        headers,
        conn: Some(arrival.meter.conn()),
        route: MODEL_INFER,
        started,
    };
    let run = pipeline.infer(&GrpcCodec, inbound, message);
    let result = match deadline {
        None => run.await,
        Some((at, timeout)) => match tokio::time::timeout_at(at.into(), run).await {
            Ok(result) => result,
            Err(_) => return Err(deadline_exceeded(timeout)),
        },
    };
    result.map_err(refused)
}

/// A refusal or failure, logged as REST logs it, as a status.
fn refused(e: ApiError) -> Status {
    e.log("grpc");
    to_status(e)
}

impl GrpcFront {
    /// Records the call in the metrics and hands its answer to tonic.
    fn answer<T>(
        &self,
        method: &'static str,
        started: Instant,
        result: Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        if let Some(m) = &self.pipeline.metrics {
            let code = result
                .as_ref()
                .map_or_else(|s| s.code(), |_| tonic::Code::Ok);
            m.rpc_request(method, code as i32, started.elapsed());
        }
        result.map(Response::new)
    }

    /// Answers a question about the models (not an inference): `ask` gets
    /// the caller's metadata, the call's arrival and the message; the call
    /// is timed and counted as `method`, and a refusal logged as REST logs
    /// it.
    fn question<M, T>(
        &self,
        method: &'static str,
        request: Request<M>,
        ask: impl FnOnce(&http::HeaderMap, Option<&Arrival>, M) -> Result<T, ApiError>,
    ) -> Result<Response<T>, Status> {
        let started = Instant::now();
        let (metadata, ext, msg) = request.into_parts();
        let headers = metadata.into_headers();
        let result = ask(&headers, ext.get(), msg).map_err(refused);
        self.answer(method, started, result)
    }

    /// A metadata or readiness question about one model (version), under
    /// the same identity and tenant rules as inference.
    fn look_up(
        &self,
        headers: &http::HeaderMap,
        arrival: Option<&Arrival>,
        name: &str,
        version: &str,
    ) -> Result<Arc<crate::served::ServedVersion>, ApiError> {
        let version = Some(version).filter(|v| !v.is_empty());
        let conn = arrival.map(|a| a.meter.conn());
        self.pipeline.look_up(headers, conn, name, version)
    }
}

impl GrpcFront {
    /// The statistics of the versions the caller may call, of `name`
    /// (and `version`) when given.
    fn statistics(
        &self,
        headers: &http::HeaderMap,
        arrival: Option<&Arrival>,
        name: &str,
        version: &str,
    ) -> Result<ModelStatisticsResponse, ApiError> {
        if !name.is_empty() {
            // Unknown or refused: said as for metadata.
            self.look_up(headers, arrival, name, version)?;
        }
        let conn = arrival.map(|a| a.meter.conn());
        let mut model_stats = Vec::new();
        for entry in self.pipeline.index(headers, conn)? {
            if !name.is_empty() && entry.name != name {
                continue;
            }
            for v in &entry.versions {
                if !version.is_empty() && v != version {
                    continue;
                }
                if let Ok((model, _)) = self.pipeline.registry.resolve(&entry.name, Some(v)) {
                    model_stats.push(version_statistics(&entry.name, v, &model.stats));
                }
            }
        }
        Ok(ModelStatisticsResponse { model_stats })
    }
}

/// One version's counters as Triton's `ModelStatistics`.
fn version_statistics(
    name: &str,
    version: &str,
    stats: &crate::runtime::VersionStats,
) -> ModelStatistics {
    use std::sync::atomic::Ordering::Relaxed;
    let calls = stats.requests.load(Relaxed);
    let errors = stats.errors.load(Relaxed);
    let (ok_ns, error_ns) = (stats.success_ns.load(Relaxed), stats.error_ns.load(Relaxed));
    let last_inference = stats
        .last_call()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let duration = |count, ns| Some(StatisticDuration { count, ns });
    ModelStatistics {
        name: name.to_string(),
        version: version.to_string(),
        last_inference,
        inference_count: calls - errors.min(calls),
        execution_count: calls,
        inference_stats: Some(InferStatistics {
            success: duration(calls - errors.min(calls), ok_ns),
            fail: duration(errors, error_ns),
            queue: duration(0, 0),
            compute_input: duration(0, 0),
            compute_infer: duration(calls, ok_ns.saturating_add(error_ns)),
            compute_output: duration(0, 0),
        }),
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for GrpcFront {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        let ready = self
            .pipeline
            .ready
            .load(std::sync::atomic::Ordering::Acquire);
        Ok(Response::new(ServerReadyResponse { ready }))
    }

    /// Ready when the caller may call it; `false` for a model or version
    /// that is not served (as Triton answers); a caller refused is told
    /// why.
    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        self.question("ModelReady", request, |headers, arrival, msg| {
            match self.look_up(headers, arrival, &msg.name, &msg.version) {
                Ok(_) => Ok(ModelReadyResponse { ready: true }),
                Err(e) if e.status == StatusCode::NOT_FOUND => {
                    Ok(ModelReadyResponse { ready: false })
                }
                Err(e) => Err(e),
            }
        })
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "edgeserve".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: vec!["binary_tensor_data".into()],
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        self.question("ModelMetadata", request, |headers, arrival, msg| {
            let model = self.look_up(headers, arrival, &msg.name, &msg.version)?;
            let versions = if msg.version.is_empty() {
                self.pipeline.registry.model_versions(&msg.name)
            } else {
                vec![msg.version.clone()]
            };
            Ok(metadata_to_proto(&msg.name, &versions, &model.metadata))
        })
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let (metadata, ext, message) = request.into_parts();
        let Some(arrival) = ext.get::<Arrival>() else {
            return Err(Status::internal(
                "the call did not come through the listener",
            ));
        };
        let started = arrival.started;
        let headers = metadata.into_headers();
        let result = async {
            let deadline = client_timeout(&headers)?.map(|t| (started + t, t));
            infer(
                &self.pipeline,
                &headers,
                arrival,
                message,
                started,
                deadline,
            )
            .await
        }
        .await;
        self.answer("ModelInfer", started, result)
    }

    /// Every version the caller may call, `READY` (as REST's
    /// `/v2/repository/index`; a version that is not ready is not served).
    async fn repository_index(
        &self,
        request: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        self.question("RepositoryIndex", request, |headers, arrival, _| {
            let conn = arrival.map(|a| a.meter.conn());
            let models = self.pipeline.index(headers, conn)?;
            let models = models.into_iter().flat_map(|m| {
                let name = m.name;
                m.versions.into_iter().map(move |version| ModelIndex {
                    name: name.clone(),
                    version,
                    state: "READY".into(),
                    reason: String::new(),
                })
            });
            Ok(RepositoryIndexResponse {
                models: models.collect(),
            })
        })
    }

    /// Each version's calls as Triton counts them, from the counters the
    /// node keeps: calls that succeeded and failed with the time they took
    /// (a call is one inference: counts and compute time are the same
    /// figures), and when the last one ended. All the caller may call, or
    /// one model (version).
    async fn model_statistics(
        &self,
        request: Request<ModelStatisticsRequest>,
    ) -> Result<Response<ModelStatisticsResponse>, Status> {
        self.question("ModelStatistics", request, |headers, arrival, msg| {
            self.statistics(headers, arrival, &msg.name, &msg.version)
        })
    }

    /// The model's configuration as Triton writes it, from its metadata.
    async fn model_config(
        &self,
        request: Request<ModelConfigRequest>,
    ) -> Result<Response<ModelConfigResponse>, Status> {
        self.question("ModelConfig", request, |headers, arrival, msg| {
            let model = self.look_up(headers, arrival, &msg.name, &msg.version)?;
            Ok(ModelConfigResponse {
                config: Some(config_to_proto(&msg.name, &model.metadata)),
            })
        })
    }

    type ModelStreamInferStream = stream::Responses;

    async fn model_stream_infer(
        &self,
        request: Request<Streaming<ModelInferRequest>>,
    ) -> Result<Response<stream::Responses>, Status> {
        let (metadata, ext, incoming) = request.into_parts();
        let Some(arrival) = ext.get::<Arrival>().cloned() else {
            return Err(Status::internal(
                "the call did not come through the listener",
            ));
        };
        let headers = metadata.into_headers();
        let deadline = client_timeout(&headers)?.map(|t| (arrival.started + t, t));
        let call = stream::Call {
            pipeline: self.pipeline.clone(),
            headers,
            arrival,
            deadline,
            stopping: self.stopping.clone(),
        };
        Ok(Response::new(stream::responses(call, incoming)))
    }
}

/// A stream response that carries a refusal in `error_message`, as
/// Triton's does, with the request's id so the client can match it.
fn stream_error(id: String, status: &Status) -> ModelStreamInferResponse {
    ModelStreamInferResponse {
        error_message: status.message().to_string(),
        infer_response: Some(ModelInferResponse {
            id,
            ..Default::default()
        }),
    }
}

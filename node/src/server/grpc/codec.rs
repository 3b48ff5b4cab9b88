//! The gRPC front-end's protocol stages: a `ModelInferRequest` (already
//! read by tonic, its bytes metered as they arrived) decoded into the
//! pipeline's tensors within the request's memory account, and the answer
//! written as a `ModelInferResponse` with `raw_output_contents`.

use edgeserve_grpc::convert::{request_from_proto, response_to_proto};
use edgeserve_grpc::proto::{ModelInferRequest, ModelInferResponse};
use http::StatusCode;
use prost::Message;

use crate::pipeline::{ApiError, Codec, Decoding};
use crate::runtime::LoadedModel;
use crate::tensor::{InferenceRequest, InferenceResponse};

/// The gRPC codec.
pub(crate) struct GrpcCodec;

impl Codec for GrpcCodec {
    type Body = ModelInferRequest;
    type Reply = ModelInferResponse;

    /// Counts the message in the request's account, then the tensors it
    /// decodes into beyond the raw bytes they share with it (typed
    /// `contents` and `BYTES` are copied; fixed-size raw inputs are not).
    async fn decode(
        &self,
        body: ModelInferRequest,
        cx: Decoding<'_, '_>,
    ) -> Result<InferenceRequest, ApiError> {
        let Decoding {
            memory,
            tenant,
            limits,
            ..
        } = cx;
        memory.grow(body.encoded_len() as u64, tenant).await?;
        let shared: u64 = body
            .inputs
            .iter()
            .zip(&body.raw_input_contents)
            .filter(|(input, _)| input.datatype != "BYTES")
            .map(|(_, raw)| raw.len() as u64)
            .sum();
        let (_, request) =
            request_from_proto(body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.0))?;
        let decoded: u64 = request.inputs.iter().map(|t| t.data.memory() as u64).sum();
        limits.check_decoded(decoded, "raw_input_contents")?;
        memory.grow(decoded.saturating_sub(shared), tenant).await?;
        Ok(request)
    }

    fn encode(
        &self,
        model: &LoadedModel,
        request: &InferenceRequest,
        response: &InferenceResponse,
    ) -> ModelInferResponse {
        response_to_proto(&model.name, &model.version, request.id.as_deref(), response)
    }
}

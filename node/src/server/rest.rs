//! The REST front-end's protocol stages: an OIP v2 request body (JSON, or
//! JSON with binary tensor data after it) read within the data plane's
//! limits and decoded into tensors; the answer encoded the same way.

use std::marker::PhantomData;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Body;

use crate::pipeline::{ApiError, Codec, Decoding};
use crate::protocol::{EncodedResponse, HEADER_LENGTH, encode_response, parse_request};
use crate::runtime::LoadedModel;
use crate::tensor::{InferenceRequest, InferenceResponse};

/// The REST codec, for request bodies of type `B`.
pub struct Rest<B>(PhantomData<fn() -> B>);

impl<B> Rest<B> {
    /// The codec.
    pub fn new() -> Self {
        Rest(PhantomData)
    }
}

impl<B> Default for Rest<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> Codec for Rest<B>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Body = B;
    type Reply = Response<Full<Bytes>>;

    async fn decode(&self, body: B, cx: Decoding<'_, '_>) -> Result<InferenceRequest, ApiError> {
        read_request(body, cx).await
    }

    fn encode(
        &self,
        model: &LoadedModel,
        request: &InferenceRequest,
        response: &InferenceResponse,
    ) -> Response<Full<Bytes>> {
        respond(encode_response(
            &model.name,
            &model.version,
            request,
            response,
        ))
    }
}

/// Reads and decodes an inference request within the data plane's limits:
/// the body's size, time, gaps and rate, and the request's memory (body
/// bytes as they arrive, then the decoded tensors, counted before they are
/// built).
async fn read_request<B>(body: B, cx: Decoding<'_, '_>) -> Result<InferenceRequest, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let headers = cx.inbound.headers;
    if let Some(enc) = headers.get(header::CONTENT_ENCODING)
        && enc.as_bytes() != b"identity"
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Encoding {} is not supported; send the body uncompressed",
                String::from_utf8_lossy(enc.as_bytes())
            ),
        ));
    }
    let header_len = header_length(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    let Decoding {
        inbound,
        memory,
        tenant,
        limits,
    } = cx;
    let body = limits
        .body
        .read(body, declared, inbound.started, memory, tenant)
        .await?;
    let parsed = parse_request(&body, header_len)?;
    let need = parsed.memory() as u64;
    limits.check_decoded(need, "binary tensors")?;
    memory.grow(need, tenant).await?;
    Ok(parsed.decode()?)
}

/// The `Inference-Header-Content-Length` of a binary request, if any.
fn header_length(headers: &http::HeaderMap) -> Result<Option<usize>, ApiError> {
    let Some(v) = headers.get(HEADER_LENGTH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "Inference-Header-Content-Length must be a non-negative integer",
            )
        })
}

/// The encoded response, with the content type (and binary header length)
/// it needs.
fn respond(encoded: EncodedResponse) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(encoded.body)));
    let h = resp.headers_mut();
    match encoded.header_len {
        Some(n) => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(HEADER_LENGTH, HeaderValue::from(n));
        }
        None => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
    }
    resp
}

//! The pipeline's answers as gRPC statuses: the same message text REST
//! gives, the code its HTTP status maps to, and a retry delay where REST
//! sends `Retry-After`.

use std::time::Duration;

use edgeserve_grpc::status::{code_for_http, parse_timeout, with_retry};
use tonic::Status;

use crate::pipeline::ApiError;

/// A refused or failed request as a gRPC status.
pub(crate) fn to_status(e: ApiError) -> Status {
    let code = code_for_http(e.status.as_u16());
    match e.retry_after {
        Some(secs) => with_retry(code, e.message, Duration::from_secs(u64::from(secs))),
        None => Status::new(code, e.message),
    }
}

/// The client's `grpc-timeout`, if it sent one (INVALID_ARGUMENT when it
/// is malformed).
pub(crate) fn client_timeout(headers: &http::HeaderMap) -> Result<Option<Duration>, Status> {
    let Some(value) = headers.get("grpc-timeout") else {
        return Ok(None);
    };
    parse_timeout(value.as_bytes()).map(Some).ok_or_else(|| {
        Status::invalid_argument(format!(
            "grpc-timeout '{}' is not a gRPC timeout (up to 8 digits and a unit: H, M, S, m, u \
             or n)",
            String::from_utf8_lossy(value.as_bytes())
        ))
    })
}

/// The answer when the client's `grpc-timeout` passes first.
pub(crate) fn deadline_exceeded(timeout: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "the request's grpc-timeout of {timeout:?} passed before the model answered"
    ))
}

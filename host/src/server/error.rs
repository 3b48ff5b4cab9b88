//! Errors as the protocol returns them: `{"error": "..."}` with a fitting
//! HTTP status.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::protocol::ProtocolError;
use crate::registry::RouteError;
use crate::runtime::{InvokeError, ModelErrorKind};

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the client.
    pub message: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u32>,
    /// Send `WWW-Authenticate: Bearer` (a 401).
    pub challenge: bool,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            challenge: false,
        }
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            challenge: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.challenge {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"edgeserve\""),
            );
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        let status = match e {
            RouteError::NotPinnable { .. } => StatusCode::FORBIDDEN,
            RouteError::UnknownModel(_) | RouteError::UnknownVersion { .. } => {
                StatusCode::NOT_FOUND
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl ApiError {
    /// The HTTP status an invocation error maps to.
    pub fn from_invoke_status(e: &InvokeError) -> StatusCode {
        match e {
            InvokeError::Deadline { .. } => StatusCode::GATEWAY_TIMEOUT,
            InvokeError::Model { kind, .. } => match kind {
                ModelErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
                ModelErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                ModelErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
            InvokeError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            InvokeError::MemoryLimit { .. }
            | InvokeError::TooLarge { .. }
            | InvokeError::Trap { .. }
            | InvokeError::BadOutput { .. }
            | InvokeError::Instantiate { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        let status = ApiError::from_invoke_status(&e);
        let retry_after = matches!(e, InvokeError::Busy { .. }).then_some(1);
        ApiError {
            status,
            message: e.to_string(),
            retry_after,
            challenge: false,
        }
    }
}

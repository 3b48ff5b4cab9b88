//! A refused or failed request, as every front-end reports it: a status
//! (HTTP's; gRPC maps it to its own codes), the message for the client,
//! and the retry and challenge hints. The REST front-end writes it as
//! `{"error": "..."}`.

use http::StatusCode;

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
}

impl ApiError {
    /// Logs the answer as every front-end does: a server error as a
    /// warning, a refusal (4xx) at debug level.
    pub fn log(&self, via: &'static str) {
        let (status, error) = (self.status.as_u16(), self.message.as_str());
        if self.status.is_server_error() {
            tracing::warn!(status, error, via, "request failed");
        } else {
            tracing::debug!(status, error, via, "request refused");
        }
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
            | InvokeError::BadRewrite { .. }
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

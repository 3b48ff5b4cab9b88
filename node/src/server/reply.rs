//! JSON replies, shared by the data plane and the admin API: a document
//! with its status, and an error as `{"error": "..."}` with its retry and
//! challenge headers.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::pipeline::ApiError;

/// A reply of serialized JSON.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A reply of any serializable document.
pub fn document<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    doc: &T,
) -> Response<Full<Bytes>> {
    match serde_json::to_vec(doc) {
        Ok(body) => json(status, body),
        Err(e) => error(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not write the reply: {e}"),
        )),
    }
}

/// An error reply: `{"error": message}`, with `Retry-After` when the error
/// says when to retry and a `WWW-Authenticate` challenge on a 401 that
/// asks for one (`realm` names the plane).
pub fn error_in(e: ApiError, realm: &'static str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": e.message }).to_string();
    let mut resp = json(e.status, body);
    if e.challenge {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(realm));
    }
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// An error reply on the data plane.
pub fn error(e: ApiError) -> Response<Full<Bytes>> {
    error_in(e, "Bearer realm=\"edgeserve\"")
}

/// An error and each of its causes, `outer: cause: root`, for an answer
/// (the log gets the same through `{:#}`).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

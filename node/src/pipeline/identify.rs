//! Identify: who is asking, from the request's credentials (headers or
//! gRPC metadata) or the connection's client certificate, before the model
//! is even looked up: invalid credentials are a 401 (audited) whatever
//! model they name.

use super::ConnInfo;
use super::{ApiError, Flight, Pipeline};
use crate::registry::RouteError;
use crate::security::{AuthMethod, Identity, audit_auth_failure};

/// The client's address, formatted only when a log line or a policy needs
/// it.
#[derive(Clone, Copy)]
pub(super) struct Peer(pub(super) Option<std::net::SocketAddr>);

impl Peer {
    /// The client of a connection (none for a request driven in-process).
    pub(super) fn of(conn: Option<&ConnInfo>) -> Peer {
        Peer(conn.map(|c| c.peer))
    }

    /// The address as text (empty when unknown).
    pub(super) fn text(self) -> String {
        self.0.map(|a| a.to_string()).unwrap_or_default()
    }
}

impl Pipeline {
    /// The caller's identity.
    pub(super) fn identify(&self, flight: &Flight<'_>) -> Result<Identity, ApiError> {
        let i = &flight.inbound;
        self.authenticate(i.headers, i.conn, i.model)
    }

    /// Checks the credentials in `headers` and the connection's client
    /// certificate; `name` is the model asked for, for the audit line.
    pub(super) fn authenticate(
        &self,
        headers: &http::HeaderMap,
        conn: Option<&ConnInfo>,
        name: &str,
    ) -> Result<Identity, ApiError> {
        let cert = conn.and_then(|c| c.client_cert_cn.as_deref());
        self.auth.authenticate(headers, cert).map_err(|f| {
            let id = self.next_request_id();
            audit_auth_failure(&id, f.method, &f.reason, name, &Peer::of(conn).text());
            ApiError::unauthorized(format!("authentication failed: {}", f.reason))
        })
    }

    /// The answer for a model (or version) that is not served. Where the
    /// server requires an identity, an anonymous caller is told to present
    /// one, exactly as for a model that exists: which models exist is not
    /// for callers the server does not know. Otherwise an unknown model's
    /// answer suggests the names the caller may call.
    pub(super) fn unknown(&self, identity: &Identity, e: RouteError) -> ApiError {
        if self.auth.required && identity.method == AuthMethod::Anonymous {
            return ApiError::unauthorized(
                "this server requires an identity: send an API key, a bearer token or a client \
                 certificate",
            );
        }
        let suggestions = match &e {
            RouteError::UnknownModel(name) => self.suggestions(identity, name),
            _ => String::new(),
        };
        let mut err: ApiError = e.into();
        err.message.push_str(&suggestions);
        err
    }
}

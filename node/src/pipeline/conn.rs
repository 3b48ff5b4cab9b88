//! Where a request came from: the connection facts a front-end's
//! listener hands the pipeline (peer address, verified client certificate,
//! and the connection's and address's memory budgets).

use std::sync::Arc;

use crate::budget::Budget;

/// What the listener knows about a connection, handed to the pipeline
/// with each of its requests.
#[derive(Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Subject common name of a verified TLS client certificate.
    pub client_cert_cn: Option<Arc<str>>,
    /// Memory this connection's requests in flight may take, in bytes.
    pub budget: Budget,
    /// Memory the requests of this client address may take (shared by
    /// its connections).
    pub peer_budget: Option<Arc<Budget>>,
}

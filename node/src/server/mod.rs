//! The data plane's front-ends: the HTTP(S) listener (plain or TLS,
//! HTTP/1.1 and HTTP/2), the Open Inference Protocol's REST routes and its
//! gRPC service on the same port, both handing inference to the
//! [`crate::pipeline`].

mod front;
pub mod grpc;
mod listener;
mod peers;
pub mod reply;
mod rest;
mod routes;
mod tls;

pub use crate::pipeline::BodyRules;
pub use front::{DataBody, DataPlane};
pub use listener::{ConnInfo, ListenerOptions, serve};
pub use rest::Rest;
pub use routes::handle;
pub use tls::{ClientAuth, TlsError, load_tls_config};

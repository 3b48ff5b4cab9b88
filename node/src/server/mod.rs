//! The data plane's front-ends: the HTTP(S) listener (plain or TLS,
//! HTTP/1.1 and HTTP/2) and the Open Inference Protocol REST routes, which
//! hand inference to the [`crate::pipeline`].

mod listener;
mod peers;
pub mod reply;
mod rest;
mod routes;
mod tls;

pub use crate::pipeline::BodyRules;
pub use listener::{ConnInfo, ListenerOptions, serve};
pub use rest::Rest;
pub use routes::handle;
pub use tls::{ClientAuth, TlsError, load_tls_config};

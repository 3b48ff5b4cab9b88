//! edgeserve: serve machine-learning models as sandboxed WebAssembly
//! components over the Open Inference Protocol (KServe v2).
//!
//! - [`runtime`]: the wasmtime engine, loaded versions and sandboxed calls;
//! - [`repository`]: the model repository and its manifests;
//! - [`registry`]: the lock-free deployment table;
//! - [`protocol`]: the OIP v2 REST codec;
//! - [`server`]: the HTTP(S) listener and routes;
//! - [`inspect`]: what a component is, for `edgeserve inspect`.

pub mod config;
pub mod inspect;
pub mod protocol;
pub mod registry;
pub mod repository;
pub mod runtime;
pub mod server;
pub mod tensor;
pub mod units;

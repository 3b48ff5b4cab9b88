//! edgeserve: serve machine-learning models as sandboxed WebAssembly
//! components over the Open Inference Protocol (KServe v2).
//!
//! - [`runtime`]: the wasmtime engine, loaded versions and sandboxed calls;
//! - [`repository`]: the model repository and its manifests;
//! - [`registry`]: the lock-free deployment table;
//! - [`deploy`]: the control plane (deploys, traffic, rollback, persisted state);
//! - [`protocol`]: the OIP v2 REST codec;
//! - [`server`]: the HTTP(S) listener and routes;
//! - [`admin`]: the admin API;
//! - [`client`]: the admin API client behind the CLI's deploy commands;
//! - [`telemetry`]: the prediction log;
//! - [`inspect`]: what a component is, for `edgeserve inspect`;
//! - [`scaffold`]: `edgeserve new` and `edgeserve build`, from a model project to a version folder.

pub mod admin;
pub mod allocator;
pub mod budget;
pub mod client;
pub mod config;
pub mod contract;
pub mod deploy;
pub mod fsutil;
pub mod inspect;
pub mod node;
pub mod pipeline;
pub mod protocol;
pub mod registry;
pub mod repository;
pub mod rescore;
pub mod runtime;
pub mod scaffold;
pub mod security;
pub mod server;
pub mod telemetry;
pub mod tensor;
pub mod text;
pub mod units;

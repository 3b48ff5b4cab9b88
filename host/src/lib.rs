//! edgeserve: serve machine-learning models as sandboxed WebAssembly
//! components over the Open Inference Protocol (KServe v2). The
//! protocol's data and codec live in the `edgeserve-oip` crate
//! (re-exported here as [`tensor`] and [`protocol`]), the admin API's
//! documents in `edgeserve-contract` (as [`contract`]).
//!
//! Data plane, in the order a request travels:
//! - [`server`]: the listener and the REST front-end (routes, codec);
//! - [`pipeline`]: the protocol-independent inference path, stage by stage;
//! - [`security`]: identity, tenants and quotas, policy chains, audit;
//! - [`registry`]: the lock-free deployment table (canary, shadow, pinning);
//! - [`runtime`]: the wasmtime engine, loaded versions and sandboxed calls;
//! - [`telemetry`]: metrics, traces, drift, shadow comparison, prediction log.
//!
//! Control plane and the node:
//! - [`node`]: a whole node (checked config, build, serve, drain);
//! - [`deploy`]: deploys, traffic, rollback, persisted state, repository watch;
//! - [`admin`]: the admin API; [`contract`]: its documents; [`client`]: its client;
//! - [`repository`]: the model repository and its manifests;
//! - [`config`]: the server configuration.
//!
//! Tools: [`rescore`] (replay a prediction log against a candidate),
//! [`inspect`] (what a component is), [`scaffold`] (`edgeserve new` and
//! `build`).

pub mod admin;
pub mod allocator;
pub mod budget;
pub mod client;
pub mod config;
pub mod deploy;
pub mod fsutil;
pub mod inspect;
pub mod limits;
pub mod node;
pub mod pipeline;
pub mod registry;
pub mod repository;
pub mod rescore;
pub mod runtime;
pub mod scaffold;
pub mod security;
pub mod served;
pub mod server;
pub mod telemetry;
pub mod text;
pub mod units;

pub use edgeserve_contract as contract;
pub use edgeserve_oip::{protocol, tensor};

//! An edgeserve node as a library: it serves machine-learning models,
//! sandboxed WebAssembly components run by `edgeserve-runtime`, over the
//! Open Inference Protocol (KServe v2). The protocol's data and codec live
//! in `edgeserve-oip` (re-exported here as [`tensor`] and [`protocol`]), the
//! admin API's documents in `edgeserve-contract` (as [`contract`]), the
//! WebAssembly runtime and model repository in `edgeserve-runtime` (as
//! [`runtime`], [`repository`], [`limits`] and [`units`]).
//!
//! Data plane, in the order a request travels:
//! - [`server`]: the listener and the REST front-end (routes, codec);
//! - [`pipeline`]: the protocol-independent inference path, stage by stage;
//! - [`security`]: identity, tenants and quotas, policy chains, audit;
//! - [`registry`]: the lock-free deployment table (canary, shadow, pinning)
//!   of [`served`] versions;
//! - [`telemetry`]: metrics, traces, drift, shadow comparison, prediction log.
//!
//! Control plane and the node:
//! - [`node`]: a whole node (checked config, build, serve, drain);
//! - [`deploy`]: deploys, traffic, rollback, persisted state, repository watch;
//! - [`admin`]: the admin API; [`contract`]: its documents; [`client`]: its client;
//! - [`fleet`]: versions as OCI artifacts (the edge fleet's distribution);
//! - [`config`]: the node's configuration.

pub mod admin;
pub mod client;
pub mod config;
pub mod deploy;
pub mod fleet;
pub mod node;
pub mod pipeline;
pub mod registry;
pub mod security;
pub mod served;
pub mod server;
pub mod telemetry;

pub use edgeserve_contract as contract;
pub use edgeserve_oip::{protocol, tensor};
pub use edgeserve_runtime as runtime;
use edgeserve_runtime::{allocator, budget, fsutil, text};
pub use edgeserve_runtime::{limits, repository, units};

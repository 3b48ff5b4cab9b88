//! The Open Inference Protocol (KServe v2) as data, for every front-end
//! of an edgeserve node and for the tools that read its logs:
//!
//! - [`tensor`]: tensors, inference requests and responses, parameters;
//! - [`protocol`]: the REST codec — JSON bodies and the binary tensor data
//!   extension — bounded while parsing, and the request checks against a
//!   model's declared inputs.
//!
//! This crate knows nothing of WebAssembly, HTTP servers or the node: the
//! runtime, the node and the CLI depend on it, never the other way round.

pub mod protocol;
pub mod tensor;

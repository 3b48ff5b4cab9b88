//! The edge fleet: model and policy versions distributed as OCI artifacts
//! from any registry. So far the artifact format ([`artifact`]) and the
//! signatures an offline node checks ([`signature`]); pulling and desired
//! state build on them.

pub mod artifact;
pub mod signature;

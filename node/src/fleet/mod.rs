//! The edge fleet: model and policy versions distributed as OCI artifacts
//! from any registry, signed, pulled by the nodes that follow their tags.
//!
//! - [`artifact`]: a version as an OCI image manifest, and back;
//! - [`signature`] and [`keys`]: cosign-compatible signatures;
//! - [`remote`]: one repository in a registry (oci-client), with
//!   [`credentials`] from the environment or the Docker config;
//! - [`cache`]: blobs by digest on disk, resumable and checked;
//! - [`fetch`]: resolve, verify, pull, for a node;
//! - [`config`] and [`follow`]: the `[fleet]` section and the tasks that
//!   follow tags (desired state, rings).

pub mod artifact;
pub mod cache;
pub mod config;
pub mod credentials;
pub mod fetch;
pub mod follow;
pub mod inventory;
pub mod keys;
pub mod remote;
pub mod signature;

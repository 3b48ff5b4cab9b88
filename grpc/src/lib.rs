//! The Open Inference Protocol (KServe v2) over gRPC.
//!
//! [`proto`] holds the messages and the `inference.GRPCInferenceService`
//! server trait generated from `proto/inference.proto` (field for field as
//! `tritonclient.grpc` and the KServe SDK speak it); [`convert`] maps them
//! to and from edgeserve's OIP types, so a gRPC front-end decodes into the
//! same [`InferenceRequest`](edgeserve_oip::tensor::InferenceRequest) the
//! REST one does and runs the same pipeline.

pub mod convert;
pub mod status;

/// The generated messages and service.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::allow_attributes_without_reason,
    reason = "generated code"
)]
pub mod proto {
    tonic::include_proto!("inference");
}

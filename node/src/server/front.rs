//! The data plane's front door: each request on the data listener goes to
//! the gRPC service (`content-type: application/grpc`) or to the REST
//! routes.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::grpc::{self, GrpcService};
use crate::pipeline::{ConnInfo, Pipeline};

/// An answer's body: REST's whole body, or gRPC's (messages, then
/// trailers).
pub type DataBody = Either<Full<Bytes>, tonic::body::Body>;

/// The data plane's front-ends over one pipeline.
pub struct DataPlane {
    pipeline: Arc<Pipeline>,
    grpc: GrpcService,
}

impl DataPlane {
    /// REST and gRPC over `pipeline`; `stopping` turns true when the
    /// server begins to shut down (open gRPC streams finish what they
    /// hold and end).
    pub fn new(pipeline: Arc<Pipeline>, stopping: tokio::sync::watch::Receiver<bool>) -> DataPlane {
        DataPlane {
            grpc: grpc::service(pipeline.clone(), stopping),
            pipeline,
        }
    }

    /// Answers one request that arrived on `conn`.
    pub async fn handle(&self, req: Request<Incoming>, conn: Arc<ConnInfo>) -> Response<DataBody> {
        if grpc::is_grpc(&req) {
            let resp = grpc::call(self.grpc.clone(), &self.pipeline, req, conn).await;
            return resp.map(Either::Right);
        }
        super::handle(self.pipeline.clone(), req, Some(conn))
            .await
            .map(Either::Left)
    }
}

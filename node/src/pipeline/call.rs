//! Call the model: the request's tensors are lowered into the version's
//! sandbox (memory cap, deadline, fuel for its output, no ambient access)
//! from where they are, and its answer comes back, with where the time
//! went.

use super::Pipeline;
use super::route::Routed;
use crate::runtime::{CallTiming, InvokeError};
use crate::tensor::{InferenceRequest, InferenceResponse};

impl Pipeline {
    /// Runs the chosen version on the request.
    pub(super) async fn call_model(
        &self,
        routed: &Routed,
        request: &InferenceRequest,
        id: &str,
    ) -> (Result<InferenceResponse, InvokeError>, CallTiming) {
        let mut timing = CallTiming::default();
        let result = routed.model.infer_timed(request, id, &mut timing).await;
        (result, timing)
    }
}

//! Call the model: the request's tensors move into the version's sandbox
//! (memory cap, deadline, fuel for its output, no ambient access) and its
//! answer comes back, with where the time went.

use super::Pipeline;
use super::route::Routed;
use crate::runtime::{CallTiming, InvokeError};
use crate::tensor::{InferenceRequest, InferenceResponse};

impl Pipeline {
    /// Runs the chosen version on the request. The id moves into the call
    /// unless the response chain still needs it for its audit lines.
    pub(super) async fn call_model(
        &self,
        routed: &Routed,
        request: &mut InferenceRequest,
        id: &mut String,
    ) -> (Result<InferenceResponse, InvokeError>, CallTiming) {
        let call_id = if routed.response_chain {
            id.clone()
        } else {
            std::mem::take(id)
        };
        let mut timing = CallTiming::default();
        let result = routed
            .model
            .infer_timed(request, call_id, &mut timing)
            .await;
        (result, timing)
    }
}

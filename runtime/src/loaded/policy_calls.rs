//! A loaded policy's two hooks: the arguments built in the form of the WIT
//! series the policy was compiled for (only what it reads), the call under
//! the version's limits, and its decision in the host's types.

use super::{CallTiming, LoadedModel};
use crate::bindings::{Abi, v1, v2};
use crate::error::InvokeError;
use crate::policy_abi::{Decision, PolicyContext, RequestRewrite};
use crate::pool::Bound;
use crate::tensor::{InferenceRequest, InferenceResponse};

/// A policy's `on-request` arguments in the form of its WIT series.
enum OnRequestArgs {
    V1(
        v1::policy::filter::RequestContext,
        v1::wit::InferenceRequest,
    ),
    V2(
        v2::policy::filter::RequestContext,
        Option<v2::policy::filter::PolicyRequest>,
    ),
}

/// A policy's `on-response` arguments in the form of its WIT series.
enum OnResponseArgs {
    V1(
        v1::policy::filter::RequestContext,
        v1::wit::InferenceRequest,
        v1::wit::InferenceResponse,
    ),
    V2(
        v2::policy::filter::RequestContext,
        Option<v2::policy::filter::PolicyRequest>,
        Option<v2::policy::filter::PolicyResponse>,
    ),
}

/// A policy's decision in the form of its WIT series.
enum PolicyAnswer<A, B> {
    V1(A),
    V2(B),
}

impl LoadedModel {
    /// Asks a policy about a request. Only what the policy reads is
    /// copied into it.
    pub async fn on_request(
        &self,
        ctx: &PolicyContext,
        req: &InferenceRequest,
    ) -> Result<Decision<RequestRewrite>, InvokeError> {
        let args = match self.abi {
            Abi::V1 => {
                let (c, r) = v1::on_request_args(ctx, req);
                OnRequestArgs::V1(c, r)
            }
            Abi::V2 => {
                let (c, r) = v2::on_request_args(ctx, req, self.reads);
                OnRequestArgs::V2(c, r)
            }
        };
        let (label, kind) = (self.label.clone(), self.kind);
        let answer = self
            .call(&mut CallTiming::default(), move |store, bound| {
                Box::pin(async move {
                    match (bound, &args) {
                        (Bound::PolicyV1(p), OnRequestArgs::V1(c, r)) => p
                            .edgeserve_ml_filter()
                            .call_on_request(store, c, r)
                            .await
                            .map(PolicyAnswer::V1),
                        (Bound::PolicyV2(p), OnRequestArgs::V2(c, r)) => p
                            .edgeserve_ml_filter()
                            .call_on_request(store, c, r.as_ref())
                            .await
                            .map(PolicyAnswer::V2),
                        _ => Err(Self::wrong_kind(&label, kind)),
                    }
                })
            })
            .await?;
        match answer {
            PolicyAnswer::V1(d) => Ok(v1::request_decision(d)),
            PolicyAnswer::V2(d) => v2::request_decision(d).map_err(|m| self.bad_rewrite(m)),
        }
    }

    /// Asks a policy about a response. Only what the policy reads is
    /// copied into it.
    pub async fn on_response(
        &self,
        ctx: &PolicyContext,
        req: &InferenceRequest,
        resp: &InferenceResponse,
    ) -> Result<Decision<InferenceResponse>, InvokeError> {
        let args = match self.abi {
            Abi::V1 => {
                let (c, r, a) = v1::on_response_args(ctx, req, resp);
                OnResponseArgs::V1(c, r, a)
            }
            Abi::V2 => {
                let (c, r, a) = v2::on_response_args(ctx, req, resp, self.reads);
                OnResponseArgs::V2(c, r, a)
            }
        };
        let (label, kind) = (self.label.clone(), self.kind);
        let answer = self
            .call(&mut CallTiming::default(), move |store, bound| {
                Box::pin(async move {
                    match (bound, &args) {
                        (Bound::PolicyV1(p), OnResponseArgs::V1(c, r, a)) => p
                            .edgeserve_ml_filter()
                            .call_on_response(store, c, r, a)
                            .await
                            .map(PolicyAnswer::V1),
                        (Bound::PolicyV2(p), OnResponseArgs::V2(c, r, a)) => p
                            .edgeserve_ml_filter()
                            .call_on_response(store, c, r.as_ref(), a.as_ref())
                            .await
                            .map(PolicyAnswer::V2),
                        _ => Err(Self::wrong_kind(&label, kind)),
                    }
                })
            })
            .await?;
        match answer {
            PolicyAnswer::V1(d) => Ok(v1::response_decision(d)),
            PolicyAnswer::V2(d) => v2::response_decision(d).map_err(|m| self.bad_rewrite(m)),
        }
    }

    /// A policy's rewrite whose tensors do not fit their shapes.
    fn bad_rewrite(&self, message: String) -> InvokeError {
        InvokeError::BadRewrite {
            policy: self.label.to_string(),
            message,
        }
    }
}

//! A loaded policy's two hooks: the arguments built in the form of the WIT
//! series the policy was compiled for (only what it reads; borrowed for
//! 0.2), the call under the version's limits, and its decision in the
//! host's types.

use super::{CallTiming, LoadedModel};
use crate::bindings::{Abi, v1, v2};
use crate::error::InvokeError;
use crate::policy_abi::{Decision, PolicyContext, RequestRewrite};
use crate::pool::Bound;
use crate::tensor::{InferenceRequest, InferenceResponse};

impl LoadedModel {
    /// Asks a policy about a request. Only what the policy reads is
    /// lowered into it, from where it is.
    pub async fn on_request(
        &self,
        ctx: &PolicyContext,
        req: &InferenceRequest,
    ) -> Result<Decision<RequestRewrite>, InvokeError> {
        self.on_request_timed(ctx, req, &mut CallTiming::default())
            .await
    }

    /// [`LoadedModel::on_request`], noting where the time went in `timing`.
    pub async fn on_request_timed(
        &self,
        ctx: &PolicyContext,
        req: &InferenceRequest,
        timing: &mut CallTiming,
    ) -> Result<Decision<RequestRewrite>, InvokeError> {
        match self.abi {
            Abi::V1 => {
                let (c, r) = v1::on_request_args(ctx, req);
                let d = self
                    .call(timing, async |store, bound| match bound {
                        Bound::PolicyV1(p) => {
                            p.edgeserve_ml_filter().call_on_request(store, &c, &r).await
                        }
                        _ => Err(self.wrong_kind()),
                    })
                    .await?;
                Ok(v1::request_decision(d))
            }
            Abi::V2 => {
                let data = v2::PolicyData::new(req, None, self.reads);
                let parts = v2::PolicyParts::new(ctx, req, None, &data, self.reads);
                let d = self
                    .call(timing, async |store, bound| match bound {
                        Bound::PolicyV2(p) => {
                            p.edgeserve_ml_filter()
                                .call_on_request(store, parts.context(), parts.request())
                                .await
                        }
                        _ => Err(self.wrong_kind()),
                    })
                    .await?;
                v2::request_decision(d).map_err(|m| self.bad_rewrite(m))
            }
        }
    }

    /// Asks a policy about a response. Only what the policy reads is
    /// lowered into it, from where it is.
    pub async fn on_response(
        &self,
        ctx: &PolicyContext,
        req: &InferenceRequest,
        resp: &InferenceResponse,
    ) -> Result<Decision<InferenceResponse>, InvokeError> {
        self.on_response_timed(ctx, req, resp, &mut CallTiming::default())
            .await
    }

    /// [`LoadedModel::on_response`], noting where the time went in
    /// `timing`.
    pub async fn on_response_timed(
        &self,
        ctx: &PolicyContext,
        req: &InferenceRequest,
        resp: &InferenceResponse,
        timing: &mut CallTiming,
    ) -> Result<Decision<InferenceResponse>, InvokeError> {
        match self.abi {
            Abi::V1 => {
                let (c, r, a) = v1::on_response_args(ctx, req, resp);
                let d = self
                    .call(timing, async |store, bound| match bound {
                        Bound::PolicyV1(p) => {
                            p.edgeserve_ml_filter()
                                .call_on_response(store, &c, &r, &a)
                                .await
                        }
                        _ => Err(self.wrong_kind()),
                    })
                    .await?;
                Ok(v1::response_decision(d))
            }
            Abi::V2 => {
                let data = v2::PolicyData::new(req, Some(resp), self.reads);
                let parts = v2::PolicyParts::new(ctx, req, Some(resp), &data, self.reads);
                let d = self
                    .call(timing, async |store, bound| match bound {
                        Bound::PolicyV2(p) => {
                            p.edgeserve_ml_filter()
                                .call_on_response(
                                    store,
                                    parts.context(),
                                    parts.request(),
                                    parts.response(),
                                )
                                .await
                        }
                        _ => Err(self.wrong_kind()),
                    })
                    .await?;
                v2::response_decision(d).map_err(|m| self.bad_rewrite(m))
            }
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

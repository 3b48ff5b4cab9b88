//! Request and response policies: the global chain, then the model's own,
//! each policy a sandboxed component that may allow, deny or rewrite.
//! Policies see a context (identity, route, the allow-listed headers) and
//! their own copy of the tensors, counted in the request's memory.

use super::observe::copy_memory;
use super::route::Routed;
use super::{ApiError, Flight, Pipeline};
use crate::runtime::policy_abi::{self, PolicyContext};
use crate::security::{AuthMethod, ChainError};
use crate::telemetry::Stage as TraceStage;
use crate::tensor::{InferenceRequest, InferenceResponse};

/// What the request chain leaves for the response chain: the context
/// (when a response policy runs).
pub(super) struct Screened {
    context: Option<PolicyContext>,
}

impl Pipeline {
    /// Runs the request chain (it may deny or rewrite the request). `None`
    /// when no policy runs at either stage for this model.
    pub(super) async fn request_policies<'a>(
        &'a self,
        flight: &mut Flight<'a>,
        routed: &Routed,
        request: &mut InferenceRequest,
        id: &str,
    ) -> Result<Option<Screened>, ApiError> {
        let (pre, post) = (routed.request_chain, routed.response_chain);
        if !pre && !post {
            return Ok(None);
        }
        let t = flight.stamp();
        let context = self.policy_context(flight, routed, id);
        // Each policy gets its own copy of what it reads, in its sandbox;
        // the request is counted once more for those copies, until the
        // answer (since the host lowers from the request itself, it holds
        // only BYTES it had to pack: this over-counts raw data).
        let tenant = routed.identity.tenant.as_deref();
        flight
            .memory
            .grow(copy_memory(&request.inputs), tenant)
            .await?;
        if pre {
            // Policy chains are boxed: their futures are large, and a
            // request without policies should not carry (and move) them.
            Box::pin(self.chains.run_request(
                &self.registry,
                &routed.model,
                &routed.rules,
                &context,
                request,
            ))
            .await
            .map_err(|e| refusal(e, id, routed))?;
            flight.lap(TraceStage::PolicyRequest, t);
        }
        Ok(Some(Screened {
            context: post.then_some(context),
        }))
    }

    /// Runs the response chain (it may deny or rewrite the answer); its
    /// policies read `request` as the model saw it.
    pub(super) async fn response_policies<'a>(
        &'a self,
        flight: &mut Flight<'a>,
        routed: &Routed,
        screened: Option<Screened>,
        request: &InferenceRequest,
        response: &mut InferenceResponse,
        id: &str,
    ) -> Result<(), ApiError> {
        let Some(Screened {
            context: Some(context),
        }) = screened
        else {
            return Ok(());
        };
        let tenant = routed.identity.tenant.as_deref();
        flight
            .memory
            .grow(copy_memory(&response.outputs), tenant)
            .await?;
        let t = flight.stamp();
        Box::pin(self.chains.run_response(
            &self.registry,
            &routed.rules,
            &context,
            request,
            response,
        ))
        .await
        .map_err(|e| refusal(e, id, routed))?;
        flight.lap(TraceStage::PolicyResponse, t);
        Ok(())
    }

    /// The context policies see; headers only from the configured
    /// allow-list.
    fn policy_context(&self, flight: &Flight<'_>, routed: &Routed, id: &str) -> PolicyContext {
        let headers = self
            .auth
            .policy_headers
            .iter()
            .flat_map(|name| {
                flight.inbound.headers.get_all(name).iter().map(|v| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
            })
            .collect();
        let identity = &routed.identity;
        PolicyContext {
            request_id: id.to_string(),
            tenant: identity.tenant.as_deref().map(String::from),
            principal: identity.principal.as_deref().map(String::from),
            auth_method: match identity.method {
                AuthMethod::Anonymous => policy_abi::AuthMethod::Anonymous,
                AuthMethod::ApiKey => policy_abi::AuthMethod::ApiKey,
                AuthMethod::Jwt => policy_abi::AuthMethod::Jwt,
                AuthMethod::Mtls => policy_abi::AuthMethod::Mtls,
            },
            model: routed.model.name.clone(),
            version: routed.model.version.clone(),
            headers,
            client_address: routed.peer.text(),
        }
    }
}

/// Audits a chain's refusal and turns it into the client's error.
fn refusal(e: ChainError, id: &str, routed: &Routed) -> ApiError {
    let model = &routed.model;
    crate::security::audit_denial(
        id,
        &routed.identity,
        &model.name,
        &model.version,
        Some(e.policy()),
        e.status(),
        e.reason(),
        &routed.peer.text(),
    );
    ApiError::new(e.status(), e.to_string())
}

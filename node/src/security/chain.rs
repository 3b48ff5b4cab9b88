//! Policy chains: the global chain from the server configuration, then the
//! model's own from its manifest, run in order before the model
//! (`on-request`) and after it (`on-response`). A deny stops the chain; a
//! rewrite is what the next stage sees; a policy that fails (trap,
//! deadline, memory, an answer the host cannot use, not deployed) denies
//! the request unless its binding is fail-open.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub use crate::repository::{PolicyBinding, Stage};

use crate::protocol::{check_inputs_fit, check_outputs, check_request};
use crate::registry::{ModelRules, Registry};
use crate::runtime::policy_abi::{Decision, PolicyContext, RequestRewrite};
use crate::runtime::{CallTiming, InvokeError, LoadedModel};
use crate::served::ServedVersion;
use crate::tensor::{InferenceRequest, InferenceResponse};

/// A request stopped by a chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A policy denied it.
    #[error("denied by policy {policy}: {reason}")]
    Denied {
        /// `name@version` of the policy.
        policy: String,
        /// Its status (400-599).
        status: http::StatusCode,
        /// Its reason.
        reason: String,
    },
    /// A policy failed and its binding is fail-closed.
    #[error("policy {policy} failed, so the request is denied: {reason}")]
    Failed {
        /// The policy (`name@version`, or the name when not deployed).
        policy: String,
        /// 503 when it could not answer, 403 when its answer was unusable.
        status: http::StatusCode,
        /// What went wrong.
        reason: String,
    },
}

impl ChainError {
    /// HTTP status for the client.
    pub fn status(&self) -> http::StatusCode {
        match self {
            ChainError::Denied { status, .. } | ChainError::Failed { status, .. } => *status,
        }
    }

    /// The policy that stopped the request.
    pub fn policy(&self) -> &str {
        match self {
            ChainError::Denied { policy, .. } | ChainError::Failed { policy, .. } => policy,
        }
    }

    /// Why, without the policy name.
    pub fn reason(&self) -> &str {
        match self {
            ChainError::Denied { reason, .. } | ChainError::Failed { reason, .. } => reason,
        }
    }
}

/// The global chain, and how much a rewrite may hold.
#[derive(Debug, Default)]
pub struct PolicyChains {
    global: Vec<PolicyBinding>,
    max_rewrite_bytes: usize,
}

/// What stopped a single policy call, before fail-open is considered.
struct Failure {
    status: http::StatusCode,
    reason: String,
}

impl PolicyChains {
    /// The global chain; rewrites larger than `max_rewrite_bytes` of tensor
    /// data are refused (a policy's failure).
    pub fn new(global: Vec<PolicyBinding>, max_rewrite_bytes: usize) -> Self {
        PolicyChains {
            global,
            max_rewrite_bytes,
        }
    }

    /// The global chain, then the model's own (from its rules: the same
    /// whichever version answers).
    fn bindings<'a>(
        &'a self,
        rules: &'a ModelRules,
        stage: Stage,
    ) -> impl Iterator<Item = &'a PolicyBinding> {
        self.global
            .iter()
            .chain(rules.policies.iter())
            .filter(move |b| b.stages.contains(&stage))
    }

    /// Whether any policy runs at `stage` for a model with these rules.
    pub fn any(&self, rules: &ModelRules, stage: Stage) -> bool {
        self.bindings(rules, stage).next().is_some()
    }

    fn resolve(
        registry: &Registry,
        binding: &PolicyBinding,
    ) -> Result<Arc<ServedVersion>, Failure> {
        registry.policy(&binding.policy).ok_or_else(|| Failure {
            status: http::StatusCode::SERVICE_UNAVAILABLE,
            reason: format!("policy '{}' is not deployed", binding.policy),
        })
    }

    /// Applies fail-open, counts and logs a failure; `Err` when it stops
    /// the request.
    fn failed(
        binding: &PolicyBinding,
        policy: Option<&LoadedModel>,
        f: Failure,
    ) -> Result<(), ChainError> {
        let name = policy.map_or_else(|| binding.policy.clone(), |p| p.label.to_string());
        if let Some(p) = policy {
            p.stats.policy_failed.fetch_add(1, Ordering::Relaxed);
        }
        if binding.fail_open {
            tracing::warn!(
                policy = name.as_str(),
                reason = f.reason.as_str(),
                "policy failed; fail-open binding lets the request through"
            );
            return Ok(());
        }
        Err(ChainError::Failed {
            policy: name,
            status: f.status,
            reason: f.reason,
        })
    }

    fn denial(policy: &LoadedModel, status: u16, reason: String) -> Result<ChainError, Failure> {
        let status = http::StatusCode::from_u16(status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .ok_or_else(|| Failure {
                status: http::StatusCode::FORBIDDEN,
                reason: format!("it denied with status {status}, which is not an error status"),
            })?;
        policy.stats.policy_denied.fetch_add(1, Ordering::Relaxed);
        Ok(ChainError::Denied {
            policy: policy.label.to_string(),
            status,
            // A policy's words, bounded and escaped like any guest text.
            reason: crate::text::outside_text(&reason),
        })
    }

    fn too_big(&self, bytes: usize) -> Option<Failure> {
        (bytes > self.max_rewrite_bytes).then(|| Failure {
            status: http::StatusCode::FORBIDDEN,
            reason: format!(
                "its rewrite holds {bytes} bytes of tensor data, above the {}-byte limit",
                self.max_rewrite_bytes
            ),
        })
    }

    /// Counts and settles one policy's answer. A rewrite is size-checked,
    /// then handed to `apply` (which validates and keeps it); a failure is
    /// subject to the binding's fail-open.
    fn settle<T>(
        &self,
        binding: &PolicyBinding,
        policy: &LoadedModel,
        timing: CallTiming,
        result: Result<Decision<T>, InvokeError>,
        bytes: impl FnOnce(&T) -> usize,
        apply: impl FnOnce(T) -> Result<(), Failure>,
    ) -> Result<(), ChainError> {
        let stats = &policy.stats;
        let outcome = match result {
            Ok(Decision::Allow) => {
                stats.policy_allowed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Decision::Deny { status, reason }) => match Self::denial(policy, status, reason) {
                Ok(denied) => {
                    record(stats, timing, false);
                    return Err(denied);
                }
                Err(f) => Err(f),
            },
            Ok(Decision::Rewrite(new)) => match self.too_big(bytes(&new)) {
                Some(f) => Err(f),
                None => apply(new).map(|()| {
                    stats.policy_rewrote.fetch_add(1, Ordering::Relaxed);
                }),
            },
            // An answer the host cannot use is the policy's fault (403);
            // one it could not give, a 503.
            Err(e @ (InvokeError::BadOutput { .. } | InvokeError::BadRewrite { .. })) => {
                Err(Failure {
                    status: http::StatusCode::FORBIDDEN,
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(Failure {
                status: http::StatusCode::SERVICE_UNAVAILABLE,
                reason: e.to_string(),
            }),
        };
        record(stats, timing, outcome.is_err());
        match outcome {
            Ok(()) => Ok(()),
            Err(f) => Self::failed(binding, Some(policy), f),
        }
    }

    /// Runs the request chain; `request` holds any rewrite.
    pub(crate) async fn run_request(
        &self,
        registry: &Registry,
        model: &LoadedModel,
        rules: &ModelRules,
        ctx: &PolicyContext,
        request: &mut InferenceRequest,
    ) -> Result<(), ChainError> {
        for binding in self.bindings(rules, Stage::Request) {
            let policy = match Self::resolve(registry, binding) {
                Ok(p) => p,
                Err(f) => {
                    Self::failed(binding, None, f)?;
                    continue;
                }
            };
            // What the policy reads is lowered into its sandbox at the call.
            let mut timing = CallTiming::default();
            let result = policy.on_request_timed(ctx, request, &mut timing).await;
            self.settle(
                binding,
                &policy,
                timing,
                result,
                RequestRewrite::bytes,
                |new| {
                    let next = rewritten(request, new);
                    check_inputs_fit(&next)
                        .and_then(|()| {
                            check_request(&model.name, &model.metadata, &next)
                                .map_err(|e| e.to_string())
                        })
                        .map_err(|e| Failure {
                            status: http::StatusCode::FORBIDDEN,
                            reason: format!(
                                "its rewritten request does not fit model {}: {e}",
                                model.label
                            ),
                        })?;
                    *request = next;
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    /// Runs the response chain over `response`, which holds any rewrite.
    /// `seen` is the request the model saw.
    pub(crate) async fn run_response(
        &self,
        registry: &Registry,
        rules: &ModelRules,
        ctx: &PolicyContext,
        seen: &InferenceRequest,
        response: &mut InferenceResponse,
    ) -> Result<(), ChainError> {
        for binding in self.bindings(rules, Stage::Response) {
            let policy = match Self::resolve(registry, binding) {
                Ok(p) => p,
                Err(f) => {
                    Self::failed(binding, None, f)?;
                    continue;
                }
            };
            let mut timing = CallTiming::default();
            let result = policy
                .on_response_timed(ctx, seen, response, &mut timing)
                .await;
            let mut next = None;
            self.settle(
                binding,
                &policy,
                timing,
                result,
                |r: &InferenceResponse| r.outputs.iter().map(|t| t.data.byte_len()).sum(),
                |new| {
                    check_outputs(&new).map_err(|e| Failure {
                        status: http::StatusCode::FORBIDDEN,
                        reason: format!("its rewritten response is not valid: {e}"),
                    })?;
                    next = Some(new);
                    Ok(())
                },
            )?;
            if let Some(new) = next {
                *response = new;
            }
        }
        Ok(())
    }
}

/// Counts a policy call in its version's stats, timed by the clock reads
/// the call made anyway.
fn record(stats: &crate::runtime::VersionStats, timing: CallTiming, failed: bool) {
    let ended = timing.ended.unwrap_or_else(Instant::now);
    stats.record_at(ended, timing.total, failed);
}

/// `request` with a policy's rewrite applied: the id stays the host's, and
/// a requested output keeps its binary flag.
fn rewritten(request: &InferenceRequest, new: RequestRewrite) -> InferenceRequest {
    let outputs = new
        .outputs
        .into_iter()
        .map(
            |name| match request.outputs.iter().find(|o| o.name == name) {
                Some(o) => o.clone(),
                None => crate::tensor::RequestedOutput { name, binary: None },
            },
        )
        .collect();
    InferenceRequest {
        id: request.id.clone(),
        parameters: new.parameters,
        inputs: new.inputs,
        outputs,
        binary_output: request.binary_output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(policy: &str, fail_open: bool, stages: &[Stage]) -> PolicyBinding {
        PolicyBinding {
            policy: policy.into(),
            fail_open,
            stages: stages.to_vec(),
        }
    }

    fn rules(policies: Vec<PolicyBinding>) -> ModelRules {
        ModelRules {
            kind: crate::repository::Kind::Model,
            require_auth: None,
            policies,
        }
    }

    #[test]
    fn the_global_chain_runs_first_then_the_models_own_at_their_stages() {
        let both = [Stage::Request, Stage::Response];
        let chains = PolicyChains::new(
            vec![
                binding("auth", false, &[Stage::Request]),
                binding("audit", false, &both),
            ],
            1 << 20,
        );
        let model = rules(vec![
            binding("guard", false, &[Stage::Request]),
            binding("redact", false, &[Stage::Response]),
        ]);
        let names = |stage| {
            chains
                .bindings(&model, stage)
                .map(|b| b.policy.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Stage::Request), ["auth", "audit", "guard"]);
        assert_eq!(names(Stage::Response), ["audit", "redact"]);
        assert!(chains.any(&model, Stage::Response));
        let none = PolicyChains::new(Vec::new(), 1 << 20);
        assert!(!none.any(&rules(Vec::new()), Stage::Request));
    }

    #[test]
    fn a_failing_policy_denies_unless_its_binding_fails_open() {
        let both_stages = || vec![Stage::Request, Stage::Response];
        let failure = || Failure {
            status: http::StatusCode::SERVICE_UNAVAILABLE,
            reason: "policy 'guard' is not deployed".into(),
        };
        let closed = binding("guard", false, &both_stages());
        match PolicyChains::failed(&closed, None, failure()) {
            Err(ChainError::Failed { policy, status, .. }) => {
                assert_eq!(policy, "guard");
                assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE);
            }
            other => panic!("fail-closed should deny: {other:?}"),
        }
        let open = binding("guard", true, &both_stages());
        assert!(PolicyChains::failed(&open, None, failure()).is_ok());
    }

    #[test]
    fn a_rewrite_over_the_limit_is_a_failure() {
        let chains = PolicyChains::new(Vec::new(), 100);
        assert!(chains.too_big(100).is_none());
        let f = chains.too_big(101).expect("over the limit");
        assert_eq!(f.status, http::StatusCode::FORBIDDEN);
    }
}

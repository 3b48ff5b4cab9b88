//! Route: which version answers (canary split, version pinning, shadow),
//! and whether this caller may use the model: its identity requirement
//! and the tenant's rules, with the quota taken for an inference. The
//! rules are the model's, whichever version answers; every refusal is
//! audited, and 401s carry a challenge.

use std::sync::Arc;

use http::StatusCode;

use super::ConnInfo;
use super::identify::Peer;
use super::{ApiError, Flight, Pipeline};
use crate::registry::ModelRules;
use crate::runtime::LoadedModel;
use crate::security::{AuthMethod, Identity, Stage, TenantOf, audit_denial};
use crate::served::ServedVersion;

/// A request's model, once the caller is admitted to it.
pub(super) struct Routed {
    /// The version that answers.
    pub(super) model: Arc<ServedVersion>,
    /// A shadow version that gets a copy of the request, if any.
    pub(super) shadow: Option<Arc<ServedVersion>>,
    /// The model's rules (whichever version answers).
    pub(super) rules: Arc<ModelRules>,
    /// Who asks, with the tenant whose rules applied.
    pub(super) identity: Identity,
    /// The client's address.
    pub(super) peer: Peer,
    /// Whether any policy runs before the model (global or the model's).
    pub(super) request_chain: bool,
    /// Whether any policy runs after it.
    pub(super) response_chain: bool,
}

impl Pipeline {
    /// Chooses the version and admits the caller (taking its tenant's
    /// quota); the request's memory now counts against its tenant too.
    pub(super) fn route<'a>(
        &'a self,
        flight: &mut Flight<'a>,
        identity: Identity,
    ) -> Result<Routed, ApiError> {
        let i = &flight.inbound;
        let routed = self
            .registry
            .route(i.model, i.version)
            .map_err(|e| self.unknown(&identity, e))?;
        if flight.trace.is_some() {
            // Traced whether or not the caller is admitted.
            flight.version = Some(routed.model.version.clone());
        }
        let i = &flight.inbound;
        let identity = self.admit_caller(identity, i.conn, &routed.model, &routed.rules, true)?;
        if let Some(t) = identity.tenant.as_deref() {
            flight.memory.join_tenant(self.tenants.budget(t));
        }
        Ok(Routed {
            request_chain: self.chains.any(&routed.rules, Stage::Request),
            response_chain: self.chains.any(&routed.rules, Stage::Response),
            model: routed.model,
            shadow: routed.shadow,
            rules: routed.rules,
            identity,
            peer: Peer::of(i.conn),
        })
    }

    /// The model (or version) a metadata or readiness request asks about,
    /// once the caller is identified and admitted under the model's rules
    /// (no quota is taken): what every front-end's metadata and readiness
    /// routes answer from.
    pub fn look_up(
        &self,
        headers: &http::HeaderMap,
        conn: Option<&ConnInfo>,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ServedVersion>, ApiError> {
        let identity = self.authenticate(headers, conn, name)?;
        let (model, rules) = self
            .registry
            .resolve(name, version)
            .map_err(|e| self.unknown(&identity, e))?;
        self.admit_caller(identity, conn, &model, &rules, false)?;
        Ok(model)
    }

    /// Whether the caller (already authenticated) may use this model: its
    /// identity requirement and the tenant rules (the quota is taken only
    /// when `charge`, for inference).
    fn admit_caller(
        &self,
        mut identity: Identity,
        conn: Option<&ConnInfo>,
        model: &LoadedModel,
        rules: &ModelRules,
        charge: bool,
    ) -> Result<Identity, ApiError> {
        let client = Peer::of(conn);
        let refuse = |identity: &Identity, status: StatusCode, reason: String, retry_after| {
            let id = self.next_request_id();
            audit_denial(
                &id,
                identity,
                &model.name,
                &model.version,
                None,
                status,
                &reason,
                &client.text(),
            );
            ApiError {
                status,
                message: reason,
                retry_after,
                challenge: status == StatusCode::UNAUTHORIZED,
            }
        };
        let anonymous = identity.method == AuthMethod::Anonymous;
        if anonymous && rules.requires_identity(self.auth.required) {
            let reason = format!(
                "model {} requires an identity: send an API key, a bearer token or a client \
                 certificate",
                model.name
            );
            return Err(refuse(&identity, StatusCode::UNAUTHORIZED, reason, None));
        }
        let tenant = self
            .tenants
            .tenant_of(identity.tenant.as_ref(), !anonymous)
            .map_err(|r| refuse(&identity, r.status, r.reason, r.retry_after))?;
        if let TenantOf::Tenant(tenant) = tenant {
            let admitted = if charge {
                self.tenants.admit(&tenant, &model.name)
            } else {
                self.tenants.may_call(&tenant, &model.name)
            };
            // Policies and the audit see the tenant whose rules applied
            // (the default tenant for a caller that names none).
            identity.tenant = Some(tenant);
            admitted.map_err(|r| refuse(&identity, r.status, r.reason, r.retry_after))?;
        }
        Ok(identity)
    }
}

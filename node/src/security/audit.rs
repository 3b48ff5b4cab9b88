//! The audit log: one structured line (target `edgeserve::audit`) for every
//! denial and every authentication failure. It names who, what and why;
//! never payloads, keys or tokens.

use super::identity::Identity;

/// Logs a refused request: by a policy (`policy` set), by tenant rules or
/// quotas, or because identity was required and missing.
#[allow(
    clippy::too_many_arguments,
    reason = "one audit record, field by field"
)]
pub fn audit_denial(
    request_id: &str,
    identity: &Identity,
    model: &str,
    version: &str,
    policy: Option<&str>,
    status: http::StatusCode,
    reason: &str,
    client: &str,
) {
    tracing::warn!(
        target: "edgeserve::audit",
        event = "deny",
        request_id,
        tenant = identity.tenant.as_deref().unwrap_or("-"),
        principal = identity.principal.as_deref().unwrap_or("-"),
        method = identity.method.as_str(),
        model,
        version,
        policy = policy.unwrap_or("-"),
        status = status.as_u16(),
        reason,
        client,
        "request denied"
    );
}

/// Logs a failed authentication: the method tried and why it failed.
pub fn audit_auth_failure(request_id: &str, method: &str, reason: &str, model: &str, client: &str) {
    tracing::warn!(
        target: "edgeserve::audit",
        event = "auth_failure",
        request_id,
        method,
        model,
        reason,
        client,
        "authentication failed"
    );
}

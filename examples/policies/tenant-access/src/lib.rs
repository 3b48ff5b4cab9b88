//! Tenant access policy: which tenants may call which models.
//!
//! Runs before the model. The caller's tenant (from the request context)
//! must be allowed the model and version being called by config key
//! `allow.<tenant>`; callers without a tenant use key `anonymous`. Each value
//! is a comma list of entries: `model` (any version), `model@version`, or
//! `*` (every model). Matching is exact. Anything not allowed gets 403.

use edgeserve_guest::{Context, Policy, Reads, Request, Verdict, config};

/// The policy; it keeps no state.
struct TenantAccess;

/// Whether one allow-list entry covers `model` at `version`.
fn permits(entry: &str, model: &str, version: &str) -> bool {
    match entry.split_once('@') {
        Some((m, v)) => m == model && v == version,
        None => entry == "*" || entry == model,
    }
}

impl Policy for TenantAccess {
    /// Identity and route alone: no tensor is copied into this policy.
    const READS: Reads = Reads::NOTHING;

    fn on_request(ctx: &Context, _request: &Request) -> Verdict<Request> {
        let (caller, allowed) = match ctx.tenant.as_deref() {
            Some(tenant) => (
                format!("tenant '{tenant}'"),
                config::list(&format!("allow.{tenant}")),
            ),
            None => (
                "callers without a tenant".to_string(),
                config::list("anonymous"),
            ),
        };
        if allowed
            .iter()
            .any(|entry| permits(entry, &ctx.model, &ctx.version))
        {
            Verdict::Allow
        } else {
            Verdict::forbid(format!(
                "{caller} may not call model '{}' version '{}'",
                ctx.model, ctx.version
            ))
        }
    }
}

edgeserve_guest::export_policy!(TenantAccess);

#[cfg(test)]
mod tests {
    use super::permits;

    #[test]
    fn entries_match_exactly() {
        assert!(permits("*", "iris", "1"));
        assert!(permits("iris", "iris", "7"));
        assert!(permits("iris@2", "iris", "2"));
        assert!(!permits("iris@2", "iris", "20"));
        assert!(!permits("iris@2", "iris", "1"));
        assert!(!permits("iri", "iris", "1"));
        assert!(!permits("Iris", "iris", "1"));
        assert!(!permits("*@1", "iris", "1"));
    }
}

//! Tenant access policy: which tenants may call which models.
//!
//! Runs before the model. The caller's tenant (from the request context)
//! must be allowed the model and version being called by config key
//! `allow.<tenant>`; callers without a tenant use key `anonymous`. Each value
//! is a comma list of entries: `model` (any version), `model@version`, or
//! `*` (every model). Matching is exact. Anything not allowed gets 403.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use edgeserve_guest::{Context, Policy, Reads, Request, Verdict, config};

/// The policy; its allow lists live in [`allowed`].
struct TenantAccess;

/// The allow lists, read from the configuration on first use (it never
/// changes during an instance's life): a request then costs a map lookup,
/// not a host call and a parse.
struct AllowLists {
    /// `allow.<tenant>` by tenant.
    tenants: BTreeMap<String, Vec<String>>,
    /// `anonymous`: callers without a tenant.
    anonymous: Vec<String>,
}

/// The entries that allow `tenant` (`None`: callers without one).
fn allowed(tenant: Option<&str>) -> &'static [String] {
    static LISTS: OnceLock<AllowLists> = OnceLock::new();
    let lists = LISTS.get_or_init(|| AllowLists {
        tenants: config::keys()
            .into_iter()
            .filter_map(|key| {
                let tenant = key.strip_prefix("allow.")?.to_string();
                Some((tenant, config::list(&key)))
            })
            .collect(),
        anonymous: config::list("anonymous"),
    });
    match tenant {
        Some(t) => lists.tenants.get(t).map(Vec::as_slice).unwrap_or_default(),
        None => &lists.anonymous,
    }
}

/// Whether one allow-list entry covers `model` at `version`.
fn permits(entry: &str, model: &str, version: &str) -> bool {
    match entry.split_once('@') {
        Some((m, v)) => m == model && v == version,
        None => entry == "*" || entry == model,
    }
}

impl Policy for TenantAccess {
    /// Identity and route alone: no tensor is copied into this policy.
    const READS: Reads = Reads::IDENTITY.and(Reads::ROUTE);

    fn on_request(ctx: &Context, _request: &Request) -> Verdict<Request> {
        let tenant = ctx.tenant.as_deref();
        if allowed(tenant)
            .iter()
            .any(|entry| permits(entry, &ctx.model, &ctx.version))
        {
            return Verdict::Allow;
        }
        let caller = match tenant {
            Some(tenant) => format!("tenant '{tenant}'"),
            None => "callers without a tenant".to_string(),
        };
        Verdict::forbid(format!(
            "{caller} may not call model '{}' version '{}'",
            ctx.model, ctx.version
        ))
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

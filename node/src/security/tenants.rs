//! Tenants: which models each may call, and a request-rate quota enforced
//! with a lock-free token bucket (GCRA: one atomic per tenant).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One `[[tenants]]` entry of the server configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant name, as identities carry it.
    pub name: String,
    /// Models it may call (`*` for all).
    #[serde(default = "all_models")]
    pub models: Vec<String>,
    /// Sustained requests per second; unlimited when unset.
    pub rate: Option<f64>,
    /// Requests allowed at once above the rate (default: one second's worth).
    pub burst: Option<u32>,
    /// Memory its requests in flight may hold at once (bodies and decoded
    /// tensors). Default: half the server's `max_inflight_body` (but at
    /// least one `max_body`) when more than one tenant is configured, so
    /// no tenant can take it all.
    pub max_inflight_body: Option<crate::units::ByteSize>,
}

fn all_models() -> Vec<String> {
    vec!["*".into()]
}

/// Why a tenant's request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 403 (not allowed) or 429 (over quota).
    pub status: http::StatusCode,
    /// What to tell the client.
    pub reason: String,
    /// Seconds until a retry can succeed (429 only).
    pub retry_after: Option<u32>,
}

/// Generic cell rate algorithm: `tat` is the theoretical arrival time of
/// the next request, in nanoseconds since `epoch`.
struct Bucket {
    tat: AtomicU64,
    interval: u64,
    tolerance: u64,
}

impl Bucket {
    /// Admits one request at `now`, or says how long to wait.
    fn admit(&self, now: u64) -> Result<(), Duration> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > self.tolerance {
                return Err(Duration::from_nanos(start - now - self.tolerance));
            }
            match self.tat.compare_exchange_weak(
                tat,
                start + self.interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }
}

struct Tenant {
    models: Vec<String>,
    bucket: Option<Bucket>,
    /// Memory its requests in flight may hold, in bytes.
    memory: Option<crate::budget::Budget>,
}

/// The configured tenants. With none configured, every identity passes.
pub struct Tenants {
    map: HashMap<String, Tenant>,
    epoch: Instant,
    /// The tenant of callers whose identity names none.
    default_tenant: Option<std::sync::Arc<str>>,
    /// Whether a caller that maps to no tenant is refused.
    require_tenant: bool,
}

/// What tenant rules make of a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantOf {
    /// No tenants are configured: there are no tenant rules.
    Unruled,
    /// The caller's own tenant, or the default tenant.
    Tenant(std::sync::Arc<str>),
    /// The caller maps to no tenant and `require_tenant = false` lets it
    /// through without tenant rules (an explicit opt-out).
    Exempt,
}

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenants")
            .field("names", &self.map.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Tenants {
    /// No tenants: every identity passes.
    pub fn none() -> Tenants {
        Tenants {
            map: HashMap::new(),
            epoch: Instant::now(),
            default_tenant: None,
            require_tenant: false,
        }
    }

    /// Builds the table; refuses duplicate names and bad rates.
    /// `default_tenant` (one of them) is the tenant of callers whose
    /// identity names none; `require_tenant` (default: on when tenants are
    /// configured) refuses such callers when there is no default.
    pub fn new(
        cfg: &[TenantConfig],
        default_tenant: Option<&str>,
        require_tenant: Option<bool>,
        server_memory: u64,
        max_body: u64,
    ) -> Result<Tenants, String> {
        let mut map = HashMap::new();
        for t in cfg {
            let bucket = match t.rate {
                None => None,
                Some(rate) if rate.is_finite() && rate > 0.0 => {
                    let interval = (1e9 / rate).max(1.0) as u64;
                    let burst = u64::from(t.burst.unwrap_or(rate.ceil() as u32).max(1));
                    Some(Bucket {
                        tat: AtomicU64::new(0),
                        interval,
                        tolerance: interval.saturating_mul(burst - 1),
                    })
                }
                Some(rate) => {
                    return Err(format!("tenant '{}': rate {rate} must be above 0", t.name));
                }
            };
            let memory = match t.max_inflight_body {
                Some(b) if b.0 < max_body.min(server_memory) || b.0 > server_memory => {
                    return Err(format!(
                        "tenant '{}': max_inflight_body {b} must hold one max_body ({}) and fit \
                         in the server's max_inflight_body ({})",
                        t.name,
                        crate::units::ByteSize(max_body),
                        crate::units::ByteSize(server_memory)
                    ));
                }
                Some(b) => Some(b.0),
                None if cfg.len() > 1 => Some((server_memory / 2).max(max_body).min(server_memory)),
                None => None,
            };
            let tenant = Tenant {
                models: t.models.clone(),
                bucket,
                memory: memory.map(crate::budget::Budget::new),
            };
            if map.insert(t.name.clone(), tenant).is_some() {
                return Err(format!("tenant '{}' is configured twice", t.name));
            }
        }
        if let Some(d) = default_tenant
            && !map.contains_key(d)
        {
            return Err(format!(
                "default_tenant '{d}' is not one of the [[tenants]]"
            ));
        }
        if require_tenant == Some(true) && map.is_empty() {
            return Err("require_tenant needs [[tenants]] to map callers to".into());
        }
        Ok(Tenants {
            require_tenant: require_tenant.unwrap_or(!map.is_empty()),
            map,
            epoch: Instant::now(),
            default_tenant: default_tenant.map(std::sync::Arc::from),
        })
    }

    /// Whether any tenant is configured.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The memory budget of a configured tenant, when it has one.
    pub fn budget(&self, name: &str) -> Option<&crate::budget::Budget> {
        self.map.get(name)?.memory.as_ref()
    }

    /// The tenant whose rules apply to a caller whose identity names
    /// `tenant`: its own, else the default tenant. A caller that maps to
    /// none is refused (401 when it presented no credentials, 403 when it
    /// did) unless `require_tenant = false`; tenant rules never fall open
    /// silently.
    pub fn tenant_of(
        &self,
        tenant: Option<&std::sync::Arc<str>>,
        authenticated: bool,
    ) -> Result<TenantOf, Refusal> {
        if self.map.is_empty() {
            return Ok(TenantOf::Unruled);
        }
        match tenant.or(self.default_tenant.as_ref()) {
            Some(t) => Ok(TenantOf::Tenant(t.clone())),
            None if !self.require_tenant => Ok(TenantOf::Exempt),
            None if authenticated => Err(Refusal {
                status: http::StatusCode::FORBIDDEN,
                reason: "this identity maps to no tenant, and this server serves only callers \
                         of its tenants"
                    .into(),
                retry_after: None,
            }),
            None => Err(Refusal {
                status: http::StatusCode::UNAUTHORIZED,
                reason: "this server serves only callers of its tenants: send credentials (an \
                         API key, a bearer token or a client certificate) that carry a tenant"
                    .into(),
                retry_after: None,
            }),
        }
    }

    /// Whether `tenant` may call `model` (no quota taken): 403 when not.
    pub fn may_call(&self, tenant: &str, model: &str) -> Result<(), Refusal> {
        self.allowed(tenant, model).map(|_| ())
    }

    /// The tenant, when it is known and may call `model`.
    fn allowed(&self, tenant: &str, model: &str) -> Result<&Tenant, Refusal> {
        let Some(t) = self.map.get(tenant) else {
            return Err(Refusal {
                status: http::StatusCode::FORBIDDEN,
                reason: format!("tenant '{tenant}' is not known to this server"),
                retry_after: None,
            });
        };
        if !t.models.iter().any(|m| m == "*" || m == model) {
            return Err(Refusal {
                status: http::StatusCode::FORBIDDEN,
                reason: format!("tenant '{tenant}' may not call model '{model}'"),
                retry_after: None,
            });
        }
        Ok(t)
    }

    /// Admits a request of `tenant` to `model`, or refuses it: 403 for an
    /// unknown tenant or a model it may not call, 429 over its quota.
    pub fn admit(&self, tenant: &str, model: &str) -> Result<(), Refusal> {
        let t = self.allowed(tenant, model)?;
        if let Some(bucket) = &t.bucket {
            let now = self.epoch.elapsed().as_nanos() as u64;
            bucket.admit(now).map_err(|wait| Refusal {
                status: http::StatusCode::TOO_MANY_REQUESTS,
                reason: format!("tenant '{tenant}' is over its request-rate quota"),
                retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u32),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let b = Bucket {
            tat: AtomicU64::new(0),
            interval: 100,
            tolerance: 200,
        };
        assert!(b.admit(1000).is_ok());
        assert!(b.admit(1000).is_ok());
        assert!(b.admit(1000).is_ok());
        let wait = b.admit(1000).unwrap_err();
        assert_eq!(wait, Duration::from_nanos(100));
        assert!(b.admit(1100).is_ok());
    }

    #[test]
    fn access_and_unknown_tenants() {
        let t = Tenants::new(&[acme()], None, None, 1 << 20, 1 << 10).unwrap();
        assert!(t.admit("acme", "iris").is_ok());
        assert_eq!(
            t.admit("acme", "sentiment").unwrap_err().status,
            http::StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.admit("other", "iris").unwrap_err().status,
            http::StatusCode::FORBIDDEN
        );
    }

    fn acme() -> TenantConfig {
        TenantConfig {
            name: "acme".into(),
            models: vec!["iris".into()],
            rate: None,
            burst: None,
            max_inflight_body: None,
        }
    }

    #[test]
    fn callers_without_a_tenant_never_skip_the_rules() {
        let acme_id: std::sync::Arc<str> = "acme".into();
        // Tenants configured: no tenant is a refusal by default.
        let t = Tenants::new(&[acme()], None, None, 1 << 20, 1 << 10).unwrap();
        assert_eq!(
            t.tenant_of(None, false).unwrap_err().status,
            http::StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            t.tenant_of(None, true).unwrap_err().status,
            http::StatusCode::FORBIDDEN
        );
        assert_eq!(
            t.tenant_of(Some(&acme_id), true).unwrap(),
            TenantOf::Tenant(acme_id.clone())
        );
        // A default tenant takes them in, under its own rules.
        let t = Tenants::new(&[acme()], Some("acme"), None, 1 << 20, 1 << 10).unwrap();
        assert_eq!(t.tenant_of(None, false).unwrap(), TenantOf::Tenant(acme_id));
        // Only an explicit opt-out lets them through unruled.
        let t = Tenants::new(&[acme()], None, Some(false), 1 << 20, 1 << 10).unwrap();
        assert_eq!(t.tenant_of(None, true).unwrap(), TenantOf::Exempt);
        // No tenants: no rules.
        assert_eq!(
            Tenants::none().tenant_of(None, false).unwrap(),
            TenantOf::Unruled
        );
        assert!(Tenants::new(&[acme()], Some("nobody"), None, 1 << 20, 1 << 10).is_err());
        assert!(Tenants::new(&[], None, Some(true), 1 << 20, 1 << 10).is_err());
    }
}

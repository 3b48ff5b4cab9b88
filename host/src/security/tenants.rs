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
}

fn all_models() -> Vec<String> {
    vec!["*".into()]
}

/// Why a tenant's request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 403 (not allowed) or 429 (over quota).
    pub status: u16,
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
}

/// The configured tenants. With none configured, every identity passes.
pub struct Tenants {
    map: HashMap<String, Tenant>,
    epoch: Instant,
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
        }
    }

    /// Builds the table; refuses duplicate names and bad rates.
    pub fn new(cfg: &[TenantConfig]) -> Result<Tenants, String> {
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
            let tenant = Tenant {
                models: t.models.clone(),
                bucket,
            };
            if map.insert(t.name.clone(), tenant).is_some() {
                return Err(format!("tenant '{}' is configured twice", t.name));
            }
        }
        Ok(Tenants {
            map,
            epoch: Instant::now(),
        })
    }

    /// Whether any tenant is configured.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Admits a request of `tenant` to `model`, or refuses it: 403 for an
    /// unknown tenant or a model it may not call, 429 over its quota.
    pub fn admit(&self, tenant: &str, model: &str) -> Result<(), Refusal> {
        let Some(t) = self.map.get(tenant) else {
            return Err(Refusal {
                status: 403,
                reason: format!("tenant '{tenant}' is not known to this server"),
                retry_after: None,
            });
        };
        if !t.models.iter().any(|m| m == "*" || m == model) {
            return Err(Refusal {
                status: 403,
                reason: format!("tenant '{tenant}' may not call model '{model}'"),
                retry_after: None,
            });
        }
        if let Some(bucket) = &t.bucket {
            let now = self.epoch.elapsed().as_nanos() as u64;
            bucket.admit(now).map_err(|wait| Refusal {
                status: 429,
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
        let t = Tenants::new(&[TenantConfig {
            name: "acme".into(),
            models: vec!["iris".into()],
            rate: None,
            burst: None,
        }])
        .unwrap();
        assert!(t.admit("acme", "iris").is_ok());
        assert_eq!(t.admit("acme", "sentiment").unwrap_err().status, 403);
        assert_eq!(t.admit("other", "iris").unwrap_err().status, 403);
    }
}

//! Bearer-token authentication for the admin API: the admin token for
//! everything, and an optional read-only metrics token accepted only at
//! `/metrics`, so a scraper never holds a credential that can deploy.

use http::HeaderMap;

/// Who may call the admin API.
#[derive(Clone)]
pub struct Auth {
    token: Option<Vec<u8>>,
    metrics_token: Option<Vec<u8>>,
}

/// What a request asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Read the metrics (`GET /metrics`).
    Metrics,
    /// Anything else.
    Admin,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

/// Why a call was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token (send Authorization: Bearer <token>)")]
    Missing,
    /// The token does not match.
    #[error("invalid bearer token")]
    Invalid,
}

impl Auth {
    /// Requires `token` when given; open when `None` (loopback only; the
    /// caller enforces that). `metrics_token`, when given, is also accepted
    /// for [`Scope::Metrics`].
    pub fn new(token: Option<String>, metrics_token: Option<String>) -> Auth {
        let secret = |t: Option<String>| t.filter(|t| !t.is_empty()).map(String::into_bytes);
        Auth {
            token: secret(token),
            metrics_token: secret(metrics_token),
        }
    }

    /// Whether a token is required.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Checks the request headers for `scope`.
    pub fn check(&self, headers: &HeaderMap, scope: Scope) -> Result<(), AuthError> {
        let Some(want) = &self.token else {
            return Ok(());
        };
        let got = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AuthError::Missing)?;
        let got = got.trim().as_bytes();
        // Both comparisons always run: timing says nothing about which
        // token (if either) was close.
        let admin = constant_time_eq(got, want);
        let metrics = self
            .metrics_token
            .as_ref()
            .is_some_and(|m| constant_time_eq(got, m));
        if admin || (metrics && scope == Scope::Metrics) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of
/// a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_bearer_tokens() {
        let auth = Auth::new(Some("s3cret".into()), Some("scrape".into()));
        let mut h = HeaderMap::new();
        assert!(matches!(
            auth.check(&h, Scope::Admin),
            Err(AuthError::Missing)
        ));
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(matches!(
            auth.check(&h, Scope::Admin),
            Err(AuthError::Invalid)
        ));
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(auth.check(&h, Scope::Admin).is_ok());
        assert!(auth.check(&h, Scope::Metrics).is_ok());
        h.insert("authorization", "Bearer s3cret2".parse().unwrap());
        assert!(auth.check(&h, Scope::Admin).is_err());
        // The metrics token reads metrics and nothing else.
        h.insert("authorization", "Bearer scrape".parse().unwrap());
        assert!(auth.check(&h, Scope::Metrics).is_ok());
        assert!(matches!(
            auth.check(&h, Scope::Admin),
            Err(AuthError::Invalid)
        ));
        assert!(
            Auth::new(None, None)
                .check(&HeaderMap::new(), Scope::Admin)
                .is_ok()
        );
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"abc", b"abc"));
    }
}

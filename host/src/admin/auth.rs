//! Bearer-token authentication for the admin API.

use http::HeaderMap;

/// Who may call the admin API.
#[derive(Clone)]
pub struct Auth {
    token: Option<Vec<u8>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
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
    /// caller enforces that).
    pub fn new(token: Option<String>) -> Auth {
        Auth {
            token: token.filter(|t| !t.is_empty()).map(String::into_bytes),
        }
    }

    /// Whether a token is required.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Checks the request headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let Some(want) = &self.token else {
            return Ok(());
        };
        let got = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AuthError::Missing)?;
        if constant_time_eq(got.trim().as_bytes(), want) {
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
        let auth = Auth::new(Some("s3cret".into()));
        let mut h = HeaderMap::new();
        assert!(matches!(auth.check(&h), Err(AuthError::Missing)));
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(matches!(auth.check(&h), Err(AuthError::Invalid)));
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(auth.check(&h).is_ok());
        h.insert("authorization", "Bearer s3cret2".parse().unwrap());
        assert!(auth.check(&h).is_err());
        assert!(Auth::new(None).check(&HeaderMap::new()).is_ok());
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"abc", b"abc"));
    }
}

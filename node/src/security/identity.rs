//! Identity, established before any policy runs: API keys (stored as
//! SHA-256 hashes, compared in constant time), bearer JWTs (HS256, RS256,
//! ES256, with `exp`, `nbf`, `iss` and `aud` checked) and TLS client
//! certificates (verified by rustls against the configured CA). Each maps to
//! a tenant and a principal.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::units::HumanDuration;

/// The API key header, parsed once (a `&str` name is parsed on every
/// lookup).
const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// The `[auth]` table of the server configuration.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether every model requires an identity (a model's manifest may
    /// override with `require_auth`).
    pub required: bool,
    /// Request headers passed to policies (lower-case names); no others.
    pub policy_headers: Vec<String>,
    /// Accepted API keys.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Accepted JSON Web Tokens.
    pub jwt: Option<JwtConfig>,
    /// Tenants of TLS client certificates, by common name.
    pub client_certs: Vec<ClientCertConfig>,
    /// Refuse callers that map to no tenant (when `default_tenant` is
    /// unset). Unset: on when `[[tenants]]` are configured, so an identity
    /// without a tenant never skips the tenant rules.
    pub require_tenant: Option<bool>,
    /// The tenant of callers whose identity names none (anonymous callers
    /// included); one of the `[[tenants]]`, with its own models and quota.
    pub default_tenant: Option<String>,
}

/// One API key: its SHA-256 (hex; `edgeserve hash-key` prints it) and who
/// it stands for. The key itself is never stored.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The principal, e.g. the calling service's name.
    pub name: String,
    /// SHA-256 of the key, 64 hex digits.
    pub sha256: String,
    /// Its tenant.
    pub tenant: Option<String>,
}

/// Bearer JWT settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss` claim.
    pub issuer: Option<String>,
    /// Required `aud` claim (one of the token's audiences).
    pub audience: Option<String>,
    /// Claim holding the tenant.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claim holding the principal.
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway: HumanDuration,
    /// Verification keys; a token's `alg` (and `kid`, when both have one)
    /// picks the key.
    pub keys: Vec<JwtKeyConfig>,
}

fn default_tenant_claim() -> String {
    "tenant".into()
}

fn default_principal_claim() -> String {
    "sub".into()
}

fn default_leeway() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

/// One JWT verification key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// `HS256`, `RS256` or `ES256`.
    pub algorithm: String,
    /// Key id matched against the token's `kid`.
    pub kid: Option<String>,
    /// HS256: file holding the shared secret (trailing newline ignored).
    pub secret_file: Option<PathBuf>,
    /// RS256 / ES256: PEM file with the public key.
    pub public_key: Option<PathBuf>,
}

/// Maps a TLS client certificate's subject common name to a tenant.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertConfig {
    /// Subject common name.
    pub common_name: String,
    /// Its tenant.
    pub tenant: Option<String>,
}

/// How a caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// No credentials.
    Anonymous,
    /// An API key.
    ApiKey,
    /// A bearer JWT.
    Jwt,
    /// A TLS client certificate.
    Mtls,
}

impl AuthMethod {
    /// Name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::ApiKey => "api-key",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Mtls => "mtls",
        }
    }
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// How it was established.
    pub method: AuthMethod,
    /// Tenant, when the identity maps to one.
    pub tenant: Option<Arc<str>>,
    /// Principal: key name, JWT subject or certificate common name.
    pub principal: Option<Arc<str>>,
}

impl Identity {
    /// No credentials presented.
    pub const ANONYMOUS: Identity = Identity {
        method: AuthMethod::Anonymous,
        tenant: None,
        principal: None,
    };
}

/// Credentials were presented and are not valid (HTTP 401).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct AuthFailure {
    /// The method tried.
    pub method: &'static str,
    /// Why it failed (safe to show: never the credential).
    pub reason: String,
}

/// The `[auth]` configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// A setting is wrong; the text says which and what would do.
    #[error("[auth]: {0}")]
    Invalid(String),
    /// A key or secret file cannot be read.
    #[error("[auth]: cannot read {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A public key file does not hold a key of its algorithm.
    #[error("[auth]: {}: not an {algorithm} public key", path.display())]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// The key's algorithm.
        algorithm: String,
        /// What the parser said.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

struct JwtKey {
    algorithm: Algorithm,
    kid: Option<String>,
    key: DecodingKey,
}

struct JwtVerifier {
    keys: Vec<JwtKey>,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    principal_claim: String,
    leeway: u64,
}

/// Checks credentials; built once from the configuration.
pub struct Authenticator {
    keys: Vec<([u8; 32], Identity)>,
    jwt: Option<JwtVerifier>,
    certs: HashMap<String, Option<Arc<str>>>,
    /// Whether identity is required unless a model says otherwise.
    pub required: bool,
    /// Headers policies may see.
    pub policy_headers: Vec<http::HeaderName>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("api_keys", &self.keys.len())
            .field("jwt", &self.jwt.is_some())
            .field("client_certs", &self.certs.len())
            .field("required", &self.required)
            .finish()
    }
}

/// SHA-256 of an API key, hex: what `[[auth.api_keys]] sha256` holds.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, AuthSetupError> {
    std::fs::read(path).map_err(|source| AuthSetupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Authenticator {
    /// No credentials configured: every caller is anonymous.
    pub fn disabled() -> Authenticator {
        Authenticator {
            keys: Vec::new(),
            jwt: None,
            certs: HashMap::new(),
            required: false,
            policy_headers: Vec::new(),
        }
    }

    /// Reads key files and checks the configuration.
    pub fn new(cfg: &AuthConfig) -> Result<Authenticator, AuthSetupError> {
        let mut keys = Vec::new();
        for k in &cfg.api_keys {
            let hash = hex::decode(k.sha256.trim())
                .ok()
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
                .ok_or_else(|| {
                    AuthSetupError::Invalid(format!(
                        "api key '{}': sha256 must be 64 hex digits (run `edgeserve hash-key`)",
                        k.name
                    ))
                })?;
            keys.push((
                hash,
                Identity {
                    method: AuthMethod::ApiKey,
                    tenant: k.tenant.as_deref().map(Arc::from),
                    principal: Some(Arc::from(k.name.as_str())),
                },
            ));
        }
        let jwt = cfg.jwt.as_ref().map(JwtVerifier::new).transpose()?;
        let certs = cfg
            .client_certs
            .iter()
            .map(|c| (c.common_name.clone(), c.tenant.as_deref().map(Arc::from)))
            .collect();
        let policy_headers = cfg
            .policy_headers
            .iter()
            .map(|h| {
                http::HeaderName::try_from(h.to_ascii_lowercase()).map_err(|_| {
                    AuthSetupError::Invalid(format!("policy_headers: '{h}' is not a header name"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Authenticator {
            keys,
            jwt,
            certs,
            required: cfg.required,
            policy_headers,
        })
    }

    /// Whether any credential type is configured.
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty() || self.jwt.is_some() || !self.certs.is_empty()
    }

    /// Establishes who is asking. Header credentials (`X-Api-Key`, or
    /// `Authorization: Bearer`) come first, then a verified client
    /// certificate's common name; with neither, the caller is anonymous.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        cert_common_name: Option<&str>,
    ) -> Result<Identity, AuthFailure> {
        if let Some(key) = headers.get(X_API_KEY) {
            let key = key
                .to_str()
                .map_err(|_| fail("api-key", "the API key is not valid text"))?;
            return self.api_key(key.trim());
        }
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| fail("bearer", "the Authorization header is not valid text"))?;
            let Some((scheme, token)) = value.trim().split_once(' ') else {
                return Err(fail(
                    "bearer",
                    "the Authorization header must be 'Bearer <token>'",
                ));
            };
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(fail(
                    "bearer",
                    "only the Bearer scheme is accepted in the Authorization header",
                ));
            }
            let token = token.trim();
            return if token.split('.').count() == 3 {
                self.jwt(token)
            } else {
                self.api_key(token)
            };
        }
        if let Some(cn) = cert_common_name {
            return Ok(Identity {
                method: AuthMethod::Mtls,
                tenant: self.certs.get(cn).cloned().flatten(),
                principal: Some(Arc::from(cn)),
            });
        }
        Ok(Identity::ANONYMOUS)
    }

    fn api_key(&self, key: &str) -> Result<Identity, AuthFailure> {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Every configured hash is compared in full, so the time taken says
        // nothing about which (or whether one) matched.
        let mut found = None;
        for (i, (want, _)) in self.keys.iter().enumerate() {
            let diff = want
                .iter()
                .zip(&hash)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(i);
            }
        }
        found
            .and_then(|i| self.keys.get(i))
            .map(|(_, id)| id.clone())
            .ok_or_else(|| fail("api-key", "unknown API key"))
    }

    fn jwt(&self, token: &str) -> Result<Identity, AuthFailure> {
        let Some(v) = &self.jwt else {
            return Err(fail(
                "jwt",
                "JWT authentication is not configured on this server",
            ));
        };
        v.verify(token)
    }
}

fn fail(method: &'static str, reason: impl Into<String>) -> AuthFailure {
    AuthFailure {
        method,
        reason: reason.into(),
    }
}

impl JwtVerifier {
    fn new(cfg: &JwtConfig) -> Result<JwtVerifier, AuthSetupError> {
        if cfg.keys.is_empty() {
            return Err(AuthSetupError::Invalid(
                "[auth.jwt] needs at least one [[auth.jwt.keys]]".into(),
            ));
        }
        let mut keys = Vec::new();
        for k in &cfg.keys {
            let (algorithm, key) = match k.algorithm.to_ascii_uppercase().as_str() {
                "HS256" => {
                    let path = k.secret_file.as_ref().ok_or_else(|| {
                        AuthSetupError::Invalid("an HS256 key needs secret_file".into())
                    })?;
                    let secret = read_file(path)?;
                    let secret = secret.trim_ascii_end();
                    if secret.len() < 32 {
                        return Err(AuthSetupError::Invalid(format!(
                            "{}: an HS256 secret must be at least 32 bytes",
                            path.display()
                        )));
                    }
                    (Algorithm::HS256, DecodingKey::from_secret(secret))
                }
                alg @ ("RS256" | "ES256") => {
                    let path = k.public_key.as_ref().ok_or_else(|| {
                        AuthSetupError::Invalid(format!(
                            "an {alg} key needs public_key (a PEM file)"
                        ))
                    })?;
                    let pem = read_file(path)?;
                    let parsed = if alg == "RS256" {
                        DecodingKey::from_rsa_pem(&pem).map(|k| (Algorithm::RS256, k))
                    } else {
                        DecodingKey::from_ec_pem(&pem).map(|k| (Algorithm::ES256, k))
                    };
                    parsed.map_err(|e| AuthSetupError::Key {
                        path: path.to_path_buf(),
                        algorithm: alg.to_string(),
                        source: e,
                    })?
                }
                other => {
                    return Err(AuthSetupError::Invalid(format!(
                        "JWT algorithm '{other}' is not supported; use HS256, RS256 or ES256"
                    )));
                }
            };
            keys.push(JwtKey {
                algorithm,
                kid: k.kid.clone(),
                key,
            });
        }
        Ok(JwtVerifier {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            tenant_claim: cfg.tenant_claim.clone(),
            principal_claim: cfg.principal_claim.clone(),
            leeway: cfg.leeway.0.as_secs(),
        })
    }

    fn verify(&self, token: &str) -> Result<Identity, AuthFailure> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| fail("jwt", "the bearer token is not a well-formed JWT"))?;
        let candidates: Vec<&JwtKey> = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| match (&k.kid, &header.kid) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(fail(
                "jwt",
                format!(
                    "no key accepts tokens signed with {:?}{}",
                    header.alg,
                    header
                        .kid
                        .as_deref()
                        .map(|k| format!(" (kid {k})"))
                        .unwrap_or_default()
                ),
            ));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let mut last = None;
        for key in candidates {
            match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                token,
                &key.key,
                &validation,
            ) {
                Ok(data) => return self.identity(&data.claims),
                Err(e) => last = Some(e),
            }
        }
        let reason = match last.as_ref().map(jsonwebtoken::errors::Error::kind) {
            Some(ErrorKind::ExpiredSignature) => "the token has expired".to_string(),
            Some(ErrorKind::ImmatureSignature) => "the token is not valid yet (nbf)".to_string(),
            Some(ErrorKind::InvalidIssuer) => "the token's issuer is not accepted".to_string(),
            Some(ErrorKind::InvalidAudience) => "the token's audience is not accepted".to_string(),
            Some(ErrorKind::InvalidSignature) => "the token's signature is not valid".to_string(),
            Some(ErrorKind::MissingRequiredClaim(c)) => format!("the token has no '{c}' claim"),
            Some(other) => format!("the token is not valid: {other:?}"),
            None => "the token is not valid".to_string(),
        };
        Err(fail("jwt", reason))
    }

    /// The identity a verified token's claims give. A tenant or principal
    /// claim that is present but not a non-empty string is refused: read as
    /// "no tenant" it would slip past tenant rules.
    fn identity(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Identity, AuthFailure> {
        let text = |name: &str| match claims.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 256 => {
                Ok(Some(Arc::from(s.as_str())))
            }
            Some(_) => Err(fail(
                "jwt",
                format!(
                    "the token's '{name}' claim must be a non-empty string of at most 256 bytes"
                ),
            )),
        };
        Ok(Identity {
            method: AuthMethod::Jwt,
            tenant: text(&self.tenant_claim)?,
            principal: text(&self.principal_claim)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(&AuthConfig {
            api_keys: vec![ApiKeyConfig {
                name: "svc".into(),
                sha256: hash_api_key("s3cret-key"),
                tenant: Some("acme".into()),
            }],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn api_keys_by_header_and_bearer() {
        let a = auth();
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "s3cret-key".parse().unwrap());
        let id = a.authenticate(&h, None).unwrap();
        assert_eq!(id.method, AuthMethod::ApiKey);
        assert_eq!(id.tenant.as_deref(), Some("acme"));
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer s3cret-key".parse().unwrap());
        assert_eq!(
            a.authenticate(&h, None).unwrap().principal.as_deref(),
            Some("svc")
        );
        h.insert("authorization", "Bearer wrong".parse().unwrap());
        assert_eq!(
            a.authenticate(&h, None).unwrap_err().reason,
            "unknown API key"
        );
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert!(a.authenticate(&h, None).is_err());
        assert_eq!(
            a.authenticate(&HeaderMap::new(), None).unwrap(),
            Identity::ANONYMOUS
        );
    }

    #[test]
    fn malformed_tenant_claims_are_refused() {
        let secret = "s".repeat(32);
        let dir = edgeserve_test_support::tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, &secret).unwrap();
        let a = Authenticator::new(&AuthConfig {
            jwt: Some(JwtConfig {
                issuer: None,
                audience: None,
                tenant_claim: "tenant".into(),
                principal_claim: "sub".into(),
                leeway: default_leeway(),
                keys: vec![JwtKeyConfig {
                    algorithm: "HS256".into(),
                    kid: None,
                    secret_file: Some(path),
                    public_key: None,
                }],
            }),
            ..Default::default()
        })
        .unwrap();
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
        let token = |claims: serde_json::Value| {
            let t = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
            let mut h = HeaderMap::new();
            h.insert("authorization", format!("Bearer {t}").parse().unwrap());
            a.authenticate(&h, None)
        };
        let exp = 4_102_444_800u64;
        let ok = token(serde_json::json!({"exp": exp, "sub": "u", "tenant": "acme"})).unwrap();
        assert_eq!(ok.tenant.as_deref(), Some("acme"));
        let none = token(serde_json::json!({"exp": exp, "sub": "u"})).unwrap();
        assert_eq!(none.tenant, None);
        for bad in [
            serde_json::json!(7),
            serde_json::json!(["acme"]),
            serde_json::json!(""),
        ] {
            let err =
                token(serde_json::json!({"exp": exp, "sub": "u", "tenant": bad})).unwrap_err();
            assert!(err.reason.contains("'tenant' claim"), "{}", err.reason);
        }
    }

    #[test]
    fn bad_hash_is_refused() {
        let cfg = AuthConfig {
            api_keys: vec![ApiKeyConfig {
                name: "svc".into(),
                sha256: "abc".into(),
                tenant: None,
            }],
            ..Default::default()
        };
        assert!(Authenticator::new(&cfg).is_err());
    }
}

//! Governance in one place: who is asking (identity), what each tenant may
//! do (access and quotas), the policy chains run around every model call,
//! and the audit log of every refusal.

mod audit;
mod chain;
mod identity;
mod tenants;

pub use audit::{audit_auth_failure, audit_denial};
pub use chain::{ChainError, PolicyBinding, PolicyChains, Stage};
pub use identity::{
    ApiKeyConfig, AuthConfig, AuthFailure, AuthMethod, AuthSetupError, Authenticator,
    ClientCertConfig, Identity, JwtConfig, JwtKeyConfig, hash_api_key,
};
pub use tenants::{Refusal, TenantConfig, TenantOf, Tenants};

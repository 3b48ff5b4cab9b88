//! Policy filters: code that security teams run before and after every
//! model call, as their own sandboxed components.
//!
//! ```no_run
//! use edgeserve_guest::{Context, Policy, Request, Verdict};
//!
//! struct OnlyAcme;
//!
//! impl Policy for OnlyAcme {
//!     fn on_request(ctx: &Context, _req: &Request) -> Verdict<Request> {
//!         match ctx.tenant.as_deref() {
//!             Some("acme") => Verdict::Allow,
//!             _ => Verdict::deny(403, "only tenant acme may call this model"),
//!         }
//!     }
//! }
//!
//! edgeserve_guest::export_policy!(OnlyAcme);
//! ```

use crate::bindings::edgeserve::ml::types as wit;
use crate::policy_bindings::exports::edgeserve::ml::filter;
use crate::{Request, Response};

pub use filter::{AuthMethod, Header, RequestContext as Context};

/// What a policy decides about a request (`Verdict<Request>`) or a response
/// (`Verdict<Response>`).
#[derive(Debug)]
pub enum Verdict<T> {
    /// Pass it on unchanged.
    Allow,
    /// Refuse it with an HTTP status (400-599) and a reason the client sees.
    Deny {
        /// HTTP status, 400-599.
        status: u16,
        /// Why, for the client and the audit log.
        reason: String,
    },
    /// Replace it: the next policy (and the model, or the client) sees this.
    Rewrite(T),
}

impl<T> Verdict<T> {
    /// A refusal with `status` and `reason`.
    pub fn deny(status: u16, reason: impl Into<String>) -> Self {
        Verdict::Deny {
            status,
            reason: reason.into(),
        }
    }

    /// 403 Forbidden with `reason`.
    pub fn forbid(reason: impl Into<String>) -> Self {
        Self::deny(403, reason)
    }

    /// 400 Bad Request with `reason` (the input is not acceptable).
    pub fn reject(reason: impl Into<String>) -> Self {
        Self::deny(400, reason)
    }
}

/// A policy filter. Both functions default to allowing everything, so a
/// policy implements only the stage it cares about.
pub trait Policy {
    /// Runs before the model, in chain order. `request` is what the client
    /// sent, or what the previous policy rewrote it to.
    fn on_request(ctx: &Context, request: &Request) -> Verdict<Request> {
        let _ = (ctx, request);
        Verdict::Allow
    }

    /// Runs after the model, in chain order, with the request the model saw
    /// and its response (as rewritten by earlier policies). It sees only the
    /// outputs the client asked for.
    fn on_response(ctx: &Context, request: &Request, response: &Response) -> Verdict<Response> {
        let _ = (ctx, request, response);
        Verdict::Allow
    }
}

impl AuthMethod {
    /// Short name for logs: `anonymous`, `api-key`, `jwt` or `mtls`.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::ApiKey => "api-key",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Mtls => "mtls",
        }
    }
}

impl Context {
    /// The value of an allow-listed request header (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

fn denial(status: u16, reason: String) -> filter::Denial {
    filter::Denial { status, reason }
}

#[doc(hidden)]
pub fn on_request<P: Policy>(ctx: Context, req: wit::InferenceRequest) -> filter::RequestDecision {
    let request = Request::from_wit(req);
    match P::on_request(&ctx, &request) {
        Verdict::Allow => filter::RequestDecision::Allow,
        Verdict::Deny { status, reason } => filter::RequestDecision::Deny(denial(status, reason)),
        Verdict::Rewrite(r) => filter::RequestDecision::Rewrite(r.into_wit()),
    }
}

#[doc(hidden)]
pub fn on_response<P: Policy>(
    ctx: Context,
    req: wit::InferenceRequest,
    resp: wit::InferenceResponse,
) -> filter::ResponseDecision {
    let request = Request::from_wit(req);
    let response = Response::from_wit(resp);
    match P::on_response(&ctx, &request, &response) {
        Verdict::Allow => filter::ResponseDecision::Allow,
        Verdict::Deny { status, reason } => filter::ResponseDecision::Deny(denial(status, reason)),
        Verdict::Rewrite(r) => filter::ResponseDecision::Rewrite(r.into_wit()),
    }
}

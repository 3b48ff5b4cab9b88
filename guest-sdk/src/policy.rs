//! Policy filters: code that security teams run before and after every
//! model call, as their own sandboxed components.
//!
//! ```no_run
//! use edgeserve_guest::{Context, Policy, Reads, Request, Verdict};
//!
//! struct OnlyAcme;
//!
//! impl Policy for OnlyAcme {
//!     // The caller's identity alone: the host lowers nothing else into
//!     // the policy (no tensors, no other part of the context).
//!     const READS: Reads = Reads::IDENTITY;
//!
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

use crate::item::{Data, Item};
use crate::policy_bindings::exports::edgeserve::ml::filter;
use crate::{Request, Response};

pub use filter::{AuthMethod, Header};

/// Who is asking for what, built by the host before any policy runs. A
/// policy gets only the parts it reads ([`Policy::READS`]); the others are
/// empty (`""`, `None`, no headers, [`AuthMethod::Anonymous`]).
#[derive(Clone, Debug)]
pub struct Context {
    /// The request id, client-supplied or generated ([`Reads::REQUEST_ID`]).
    pub request_id: String,
    /// The caller's tenant, when its identity maps to one
    /// ([`Reads::IDENTITY`]).
    pub tenant: Option<String>,
    /// The caller: API key name, JWT subject or certificate common name
    /// ([`Reads::IDENTITY`]).
    pub principal: Option<String>,
    /// How the caller authenticated ([`Reads::IDENTITY`]).
    pub auth_method: AuthMethod,
    /// Model name ([`Reads::ROUTE`]).
    pub model: String,
    /// The version chosen for this request ([`Reads::ROUTE`]).
    pub version: String,
    /// Allow-listed request headers: only those the host's `[auth]
    /// policy_headers` names ([`Reads::HEADERS`]).
    pub headers: Vec<Header>,
    /// The client's IP address and port ([`Reads::CLIENT_ADDRESS`]).
    pub client_address: String,
}

impl Context {
    /// The value of an allow-listed request header (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    fn from_wit(c: filter::RequestContext) -> Context {
        let (tenant, principal, auth_method) = match c.identity {
            Some(i) => (i.tenant, i.principal, i.auth_method),
            None => (None, None, AuthMethod::Anonymous),
        };
        let (model, version) = c.route.map(|r| (r.model, r.version)).unwrap_or_default();
        Context {
            request_id: c.request_id.unwrap_or_default(),
            tenant,
            principal,
            auth_method,
            model,
            version,
            headers: c.headers.unwrap_or_default(),
            client_address: c.client_address.unwrap_or_default(),
        }
    }
}

/// What a policy reads; the host lowers only that into the sandbox, and
/// every string or list it lowers is a call into the policy. Combine with
/// [`Reads::and`] (in a `const`) or `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads(u8);

impl Reads {
    /// Nothing: an empty context, request and response.
    pub const NONE: Reads = Reads(0);
    /// The request's tensors, parameters and requested outputs.
    pub const REQUEST: Reads = Reads(1);
    /// The model's answer.
    pub const RESPONSE: Reads = Reads(1 << 1);
    /// The context's [`Context::request_id`] (also [`Request::id`]).
    pub const REQUEST_ID: Reads = Reads(1 << 2);
    /// The context's tenant, principal and auth method.
    pub const IDENTITY: Reads = Reads(1 << 3);
    /// The context's model and version.
    pub const ROUTE: Reads = Reads(1 << 4);
    /// The context's headers.
    pub const HEADERS: Reads = Reads(1 << 5);
    /// The context's client address.
    pub const CLIENT_ADDRESS: Reads = Reads(1 << 6);
    /// The whole context, no tensors.
    pub const CONTEXT: Reads = Reads(0b111_1100);
    /// Everything (what a policy that does not say gets).
    pub const ALL: Reads = Reads(0b111_1111);

    /// Both `self` and `other`.
    pub const fn and(self, other: Reads) -> Reads {
        Reads(self.0 | other.0)
    }

    /// Whether `self` includes all of `other`.
    pub const fn contains(self, other: Reads) -> bool {
        self.0 & other.0 == other.0
    }

    fn to_wit(self) -> filter::Reads {
        use filter::Reads as R;
        [
            (Reads::REQUEST, R::REQUEST),
            (Reads::RESPONSE, R::RESPONSE),
            (Reads::REQUEST_ID, R::REQUEST_ID),
            (Reads::IDENTITY, R::IDENTITY),
            (Reads::ROUTE, R::ROUTE),
            (Reads::HEADERS, R::HEADERS),
            (Reads::CLIENT_ADDRESS, R::CLIENT_ADDRESS),
        ]
        .into_iter()
        .filter(|(ours, _)| self.contains(*ours))
        .fold(R::empty(), |all, (_, flag)| all | flag)
    }
}

impl std::ops::BitOr for Reads {
    type Output = Reads;

    fn bitor(self, other: Reads) -> Reads {
        self.and(other)
    }
}

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
    /// What the policy reads: the host lowers only that into the sandbox,
    /// and hands the policy empty parts of the [`Context`] and an empty
    /// [`Request`] or [`Response`] for what it does not read. Everything by
    /// default. A policy that decides on the caller alone says
    /// `const READS: Reads = Reads::IDENTITY;` and costs little more than
    /// one call, however large the tensors; one that checks inputs says
    /// `Reads::REQUEST`.
    const READS: Reads = Reads::ALL;

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

fn denial(status: u16, reason: String) -> filter::Denial {
    filter::Denial { status, reason }
}

fn named_from_wit(t: filter::NamedTensor) -> Result<Item, String> {
    let data = Data::from_wit(t.datatype, t.data).map_err(|e| format!("'{}': {e}", t.name))?;
    Ok(Item {
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        data,
    })
}

fn named_to_wit(t: Item) -> filter::NamedTensor {
    filter::NamedTensor {
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        data: t.data.into_wit(),
    }
}

/// The SDK's request from the host's (empty when the policy does not read
/// it).
fn request_from_wit(ctx: &Context, req: Option<filter::PolicyRequest>) -> Result<Request, String> {
    let Some(req) = req else {
        return Ok(Request::new(
            ctx.request_id.clone(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ));
    };
    let inputs = req
        .inputs
        .into_iter()
        .map(named_from_wit)
        .collect::<Result<_, _>>()?;
    Ok(Request::new(
        ctx.request_id.clone(),
        inputs,
        req.outputs,
        req.parameters,
    ))
}

fn response_from_wit(resp: Option<filter::PolicyResponse>) -> Result<Response, String> {
    let Some(resp) = resp else {
        return Ok(Response::new());
    };
    let outputs = resp
        .outputs
        .into_iter()
        .map(named_from_wit)
        .collect::<Result<_, _>>()?;
    Ok(Response::from_parts(outputs, resp.parameters))
}

#[doc(hidden)]
pub fn policy_metadata<P: Policy>(name: &str, version: &str) -> filter::PolicyMetadata {
    filter::PolicyMetadata {
        name: name.to_string(),
        version: version.to_string(),
        reads: P::READS.to_wit(),
    }
}

#[doc(hidden)]
pub fn on_request<P: Policy>(
    ctx: filter::RequestContext,
    req: Option<filter::PolicyRequest>,
) -> filter::RequestDecision {
    let ctx = Context::from_wit(ctx);
    let request = match request_from_wit(&ctx, req) {
        Ok(r) => r,
        Err(e) => return filter::RequestDecision::Deny(denial(400, e)),
    };
    match P::on_request(&ctx, &request) {
        Verdict::Allow => filter::RequestDecision::Allow,
        Verdict::Deny { status, reason } => filter::RequestDecision::Deny(denial(status, reason)),
        Verdict::Rewrite(r) => {
            let (inputs, outputs, parameters) = r.into_parts();
            filter::RequestDecision::Rewrite(filter::PolicyRequest {
                inputs: inputs.into_iter().map(named_to_wit).collect(),
                outputs,
                parameters,
            })
        }
    }
}

#[doc(hidden)]
pub fn on_response<P: Policy>(
    ctx: filter::RequestContext,
    req: Option<filter::PolicyRequest>,
    resp: Option<filter::PolicyResponse>,
) -> filter::ResponseDecision {
    let ctx = Context::from_wit(ctx);
    let parsed = request_from_wit(&ctx, req).and_then(|r| Ok((r, response_from_wit(resp)?)));
    let (request, response) = match parsed {
        Ok(both) => both,
        Err(e) => return filter::ResponseDecision::Deny(denial(400, e)),
    };
    match P::on_response(&ctx, &request, &response) {
        Verdict::Allow => filter::ResponseDecision::Allow,
        Verdict::Deny { status, reason } => filter::ResponseDecision::Deny(denial(status, reason)),
        Verdict::Rewrite(r) => {
            let (outputs, parameters) = r.into_parts();
            filter::ResponseDecision::Rewrite(filter::PolicyResponse {
                outputs: outputs.into_iter().map(named_to_wit).collect(),
                parameters,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_map_to_the_wit_flags() {
        use filter::Reads as R;
        assert_eq!(Reads::NONE.to_wit(), R::empty());
        let context = R::REQUEST_ID | R::IDENTITY | R::ROUTE | R::HEADERS | R::CLIENT_ADDRESS;
        assert_eq!(Reads::ALL.to_wit(), R::REQUEST | R::RESPONSE | context);
        assert_eq!(
            Reads::IDENTITY.and(Reads::ROUTE).to_wit(),
            R::IDENTITY | R::ROUTE
        );
        assert_eq!(Reads::CONTEXT.to_wit(), context);
        assert!(Reads::CONTEXT.contains(Reads::HEADERS | Reads::REQUEST_ID));
        assert!(!Reads::CONTEXT.contains(Reads::REQUEST));
    }

    #[test]
    fn what_a_policy_does_not_read_is_empty() {
        let ctx = Context::from_wit(filter::RequestContext {
            request_id: None,
            identity: Some(filter::Identity {
                tenant: Some("acme".into()),
                principal: None,
                auth_method: AuthMethod::Jwt,
            }),
            route: None,
            headers: None,
            client_address: None,
        });
        assert_eq!(ctx.tenant.as_deref(), Some("acme"));
        assert_eq!(ctx.auth_method, AuthMethod::Jwt);
        assert_eq!((ctx.model.as_str(), ctx.version.as_str()), ("", ""));
        assert!(ctx.request_id.is_empty() && ctx.client_address.is_empty());
        assert!(ctx.headers.is_empty());
        let none = Context::from_wit(filter::RequestContext {
            request_id: Some("r1".into()),
            identity: None,
            route: Some(filter::Route {
                model: "iris".into(),
                version: "1".into(),
            }),
            headers: Some(vec![Header {
                name: "x-team".into(),
                value: "ml".into(),
            }]),
            client_address: Some("127.0.0.1:1".into()),
        });
        assert_eq!(none.auth_method, AuthMethod::Anonymous);
        assert_eq!(none.tenant, None);
        assert_eq!(none.request_id, "r1");
        assert_eq!(none.header("X-Team"), Some("ml"));
        assert_eq!(none.client_address, "127.0.0.1:1");
    }
}

//! Policy filters: code that security teams run before and after every
//! model call, as their own sandboxed components.
//!
//! ```no_run
//! use edgeserve_guest::{Context, Policy, Reads, Request, Verdict};
//!
//! struct OnlyAcme;
//!
//! impl Policy for OnlyAcme {
//!     // Identity alone: the host copies no tensors into the policy.
//!     const READS: Reads = Reads::NOTHING;
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

use crate::bindings::edgeserve::ml::types as wit;
use crate::item::{Data, Item};
use crate::policy_bindings::exports::edgeserve::ml::filter;
use crate::{Request, Response};

pub use filter::{AuthMethod, Header, RequestContext as Context};

/// What a policy reads beyond its [`Context`]; the host copies only that
/// into the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads {
    request: bool,
    response: bool,
}

impl Reads {
    /// Nothing but the context: identity, headers and route.
    pub const NOTHING: Reads = Reads {
        request: false,
        response: false,
    };
    /// The request's tensors, parameters and requested outputs.
    pub const REQUEST: Reads = Reads {
        request: true,
        response: false,
    };
    /// The model's answer.
    pub const RESPONSE: Reads = Reads {
        request: false,
        response: true,
    };
    /// Both (what a policy that does not say gets).
    pub const ALL: Reads = Reads {
        request: true,
        response: true,
    };

    fn to_wit(self) -> filter::Reads {
        let mut reads = filter::Reads::empty();
        if self.request {
            reads = reads | filter::Reads::REQUEST;
        }
        if self.response {
            reads = reads | filter::Reads::RESPONSE;
        }
        reads
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
    /// What the policy reads beyond its [`Context`]: the host copies only
    /// that into the sandbox, and hands the policy an empty [`Request`] or
    /// [`Response`] for what it does not read. Everything by default;
    /// a policy that decides on identity, headers and route alone says
    /// `const READS: Reads = Reads::NOTHING;` and costs one call, however
    /// large the tensors; `Reads::REQUEST` or `Reads::RESPONSE` for one.
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
    ctx: Context,
    req: Option<filter::PolicyRequest>,
) -> filter::RequestDecision {
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
    ctx: Context,
    req: Option<filter::PolicyRequest>,
    resp: Option<filter::PolicyResponse>,
) -> filter::ResponseDecision {
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

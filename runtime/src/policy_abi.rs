//! What the host hands a policy filter and what it answers, in the host's
//! own types: the same for every WIT version a policy may be built for
//! (each version's bindings convert at the call).

use crate::tensor::{Parameters, Tensor};

/// How the caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// No credentials were presented.
    Anonymous,
    /// An API key.
    ApiKey,
    /// A signed JSON Web Token.
    Jwt,
    /// A TLS client certificate.
    Mtls,
}

/// Who is asking for what: built once per request, before any policy runs.
#[derive(Clone, Debug)]
pub struct PolicyContext {
    /// The request id (client-supplied or generated).
    pub request_id: String,
    /// The caller's tenant, when its identity maps to one.
    pub tenant: Option<String>,
    /// The caller: API key name, JWT subject or certificate common name.
    pub principal: Option<String>,
    /// How the caller authenticated.
    pub auth_method: AuthMethod,
    /// Model name.
    pub model: String,
    /// The version chosen for this request.
    pub version: String,
    /// Allow-listed request headers: lower-case name and value.
    pub headers: Vec<(String, String)>,
    /// The client's IP address and port.
    pub client_address: String,
}

/// What a policy reads (its metadata says; a 0.1 policy reads
/// everything). The host lowers into the policy only that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads {
    /// The request's tensors, parameters and requested outputs.
    pub request: bool,
    /// The model's answer.
    pub response: bool,
    /// The context's request id.
    pub request_id: bool,
    /// The context's identity: tenant, principal, auth method.
    pub identity: bool,
    /// The context's route: model and version.
    pub route: bool,
    /// The context's allow-listed headers.
    pub headers: bool,
    /// The context's client address.
    pub client_address: bool,
}

impl Reads {
    /// Everything: what a 0.1 policy gets.
    pub const ALL: Reads = Reads {
        request: true,
        response: true,
        request_id: true,
        identity: true,
        route: true,
        headers: true,
        client_address: true,
    };

    /// Names of what is read (the WIT's flag names), for messages and
    /// `inspect`.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.request, "request"),
            (self.response, "response"),
            (self.request_id, "request-id"),
            (self.identity, "identity"),
            (self.route, "route"),
            (self.headers, "headers"),
            (self.client_address, "client-address"),
        ]
        .into_iter()
        .filter_map(|(read, name)| read.then_some(name))
        .collect()
    }
}

/// A request as a policy rewrote it: the host keeps its own id and binary
/// output flags, and checks it against the model before using it.
#[derive(Clone, Debug, Default)]
pub struct RequestRewrite {
    /// The new inputs.
    pub inputs: Vec<Tensor>,
    /// Names of the outputs to ask for; empty means all.
    pub outputs: Vec<String>,
    /// The new parameters.
    pub parameters: Parameters,
}

impl RequestRewrite {
    /// Bytes of tensor data it holds.
    pub fn bytes(&self) -> usize {
        self.inputs.iter().map(|t| t.data.byte_len()).sum()
    }
}

/// A policy's answer, for either hook.
#[derive(Debug)]
pub enum Decision<T> {
    /// Pass it on unchanged.
    Allow,
    /// Refuse it.
    Deny {
        /// The status the policy asked for (the host checks it is 400-599).
        status: u16,
        /// Why, for the client.
        reason: String,
    },
    /// Replace it.
    Rewrite(T),
}

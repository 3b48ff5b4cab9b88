//! Bindings for `edgeserve:ml@0.1.x` (`wit/legacy/0.1.1`): components built
//! before 0.2 keep running. Every tensor name, shape, data buffer and BYTES
//! element is its own list here; the host converts at the call.

use crate::policy_abi::{Decision, PolicyContext, RequestRewrite};
use crate::tensor::{InferenceRequest, InferenceResponse, Tensor, TensorData};

wasmtime::component::bindgen!({
    path: "../wit/legacy/0.1.1",
    world: "model",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use edgeserve::ml::types as wit;

/// Bindings for the 0.1 `policy` world; its types and imports are the
/// model world's.
pub(crate) mod policy {
    wasmtime::component::bindgen!({
        path: "../wit/legacy/0.1.1",
        world: "policy",
        imports: { default: async },
        exports: { default: async },
        with: {
            "edgeserve:ml/types": super::edgeserve::ml::types,
            "edgeserve:ml/logging": super::edgeserve::ml::logging,
            "edgeserve:ml/config": super::edgeserve::ml::config,
            "edgeserve:ml/artifacts": super::edgeserve::ml::artifacts,
        },
    });

    pub(crate) use exports::edgeserve::ml::filter;
}

super::datatype_conversions!(super::v1::wit);
super::model_conversions!(super::v1::wit);

fn params_to_wit(params: &crate::tensor::Parameters) -> Vec<wit::Parameter> {
    use crate::tensor::ParamValue;
    params
        .iter()
        .map(|(name, v)| wit::Parameter {
            name: name.clone(),
            value: match v {
                ParamValue::Text(s) => wit::ParamValue::Text(s.clone()),
                ParamValue::Int(i) => wit::ParamValue::Integer(*i),
                ParamValue::Float(f) => wit::ParamValue::Float(*f),
                ParamValue::Bool(b) => wit::ParamValue::Boolean(*b),
            },
        })
        .collect()
}

fn params_from_wit(params: Vec<wit::Parameter>) -> crate::tensor::Parameters {
    use crate::tensor::ParamValue;
    params
        .into_iter()
        .map(|p| {
            let v = match p.value {
                wit::ParamValue::Text(s) => ParamValue::Text(s),
                wit::ParamValue::Integer(i) => ParamValue::Int(i),
                wit::ParamValue::Float(f) => ParamValue::Float(f),
                wit::ParamValue::Boolean(b) => ParamValue::Bool(b),
            };
            (p.name, v)
        })
        .collect()
}

/// The context in this series' form (a copy).
fn context_to_wit(c: &PolicyContext) -> policy::filter::RequestContext {
    use crate::policy_abi::AuthMethod;
    use policy::filter as f;
    f::RequestContext {
        request_id: c.request_id.clone(),
        tenant: c.tenant.clone(),
        principal: c.principal.clone(),
        auth_method: match c.auth_method {
            AuthMethod::Anonymous => f::AuthMethod::Anonymous,
            AuthMethod::ApiKey => f::AuthMethod::ApiKey,
            AuthMethod::Jwt => f::AuthMethod::Jwt,
            AuthMethod::Mtls => f::AuthMethod::Mtls,
        },
        model: c.model.clone(),
        version: c.version.clone(),
        headers: c
            .headers
            .iter()
            .map(|(name, value)| f::Header {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        client_address: c.client_address.clone(),
    }
}

fn tensor_to_wit(t: Tensor) -> wit::Tensor {
    wit::Tensor {
        name: t.name,
        datatype: t.datatype.into(),
        shape: t.shape,
        data: match t.data {
            // No copy when the buffer is the tensor's alone (JSON-decoded
            // data); a slice of a request body is copied.
            TensorData::Raw(b) => wit::TensorData::Raw(Vec::from(b)),
            TensorData::Strings(s) => {
                wit::TensorData::Strings(s.iter().map(<[u8]>::to_vec).collect())
            }
        },
    }
}

fn tensor_from_wit(t: wit::Tensor) -> Tensor {
    Tensor {
        name: t.name,
        datatype: t.datatype.into(),
        shape: t.shape,
        data: match t.data {
            wit::TensorData::Raw(b) => TensorData::Raw(b.into()),
            wit::TensorData::Strings(s) => TensorData::Strings(s.iter().collect()),
        },
    }
}

/// A model's request (a copy: 0.1 bindings lower owned values).
pub(crate) fn request(id: &str, req: &InferenceRequest) -> wit::InferenceRequest {
    wit::InferenceRequest {
        id: id.to_string(),
        inputs: req.inputs.iter().cloned().map(tensor_to_wit).collect(),
        outputs: req.outputs.iter().map(|o| o.name.clone()).collect(),
        parameters: params_to_wit(&req.parameters),
    }
}

/// The host form of a model's or a policy's response.
pub(crate) fn response_from(r: wit::InferenceResponse) -> InferenceResponse {
    InferenceResponse {
        parameters: params_from_wit(r.parameters),
        outputs: r.outputs.into_iter().map(tensor_from_wit).collect(),
    }
}

/// A request as a policy sees it (a copy: the host keeps its own).
fn policy_request(id: &str, req: &InferenceRequest) -> wit::InferenceRequest {
    wit::InferenceRequest {
        id: id.to_string(),
        inputs: req.inputs.iter().cloned().map(tensor_to_wit).collect(),
        outputs: req.outputs.iter().map(|o| o.name.clone()).collect(),
        parameters: params_to_wit(&req.parameters),
    }
}

/// A response as a policy sees it (a copy).
fn policy_response(r: &InferenceResponse) -> wit::InferenceResponse {
    wit::InferenceResponse {
        outputs: r.outputs.iter().cloned().map(tensor_to_wit).collect(),
        parameters: params_to_wit(&r.parameters),
    }
}

fn rewrite_from(r: wit::InferenceRequest) -> RequestRewrite {
    RequestRewrite {
        inputs: r.inputs.into_iter().map(tensor_from_wit).collect(),
        outputs: r.outputs,
        parameters: params_from_wit(r.parameters),
    }
}

/// The arguments of `on-request`, converted (a 0.1 policy reads everything).
pub(crate) fn on_request_args(
    ctx: &PolicyContext,
    req: &InferenceRequest,
) -> (policy::filter::RequestContext, wit::InferenceRequest) {
    (context_to_wit(ctx), policy_request(&ctx.request_id, req))
}

/// The arguments of `on-response`, converted.
pub(crate) fn on_response_args(
    ctx: &PolicyContext,
    req: &InferenceRequest,
    resp: &InferenceResponse,
) -> (
    policy::filter::RequestContext,
    wit::InferenceRequest,
    wit::InferenceResponse,
) {
    (
        context_to_wit(ctx),
        policy_request(&ctx.request_id, req),
        policy_response(resp),
    )
}

/// The host form of a request decision.
pub(crate) fn request_decision(d: policy::filter::RequestDecision) -> Decision<RequestRewrite> {
    use policy::filter::RequestDecision as D;
    match d {
        D::Allow => Decision::Allow,
        D::Deny(d) => super::denial(d.status, d.reason),
        D::Rewrite(r) => Decision::Rewrite(rewrite_from(r)),
    }
}

/// The host form of a response decision.
pub(crate) fn response_decision(
    d: policy::filter::ResponseDecision,
) -> Decision<InferenceResponse> {
    use policy::filter::ResponseDecision as D;
    match d {
        D::Allow => Decision::Allow,
        D::Deny(d) => super::denial(d.status, d.reason),
        D::Rewrite(r) => Decision::Rewrite(response_from(r)),
    }
}

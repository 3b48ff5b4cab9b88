//! Bindings for `edgeserve:ml@0.2.x` (`wit/edgeserve.wit`), the current
//! version: a tensor's data is one byte buffer in the binary extension's
//! layout, a model's tensors are named by spec index, and a policy gets
//! only what its metadata says it reads.

use bytes::Bytes;

use crate::policy_abi::{Decision, PolicyContext, Reads, RequestRewrite};
use crate::protocol::{decode_binary, write_binary};
use crate::tensor::{
    DataType, InferenceRequest, InferenceResponse, ModelMetadata, Tensor, TensorData, TensorSpec,
    element_count,
};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "model",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use edgeserve::ml::types as wit;

/// Bindings for the `policy` world; its types and imports are the model
/// world's.
pub(crate) mod policy {
    wasmtime::component::bindgen!({
        path: "../wit",
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

use policy::filter;

super::common_conversions!(super::v2::wit);
super::context_conversion!(super::v2::policy::filter);

/// Index of the spec called `name`; the host has checked that it exists
/// (an index past the end would be the component's to refuse).
fn index(specs: &[TensorSpec], name: &str) -> u32 {
    specs
        .iter()
        .position(|s| s.name == name)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(u32::MAX)
}

/// Tensor data in the binary layout, moved when it can be (a buffer that
/// is the tensor's alone), else copied.
fn data_into_wit(data: TensorData) -> Vec<u8> {
    match data {
        TensorData::Raw(b) => Vec::from(b),
        strings => data_to_wit(&strings),
    }
}

/// Tensor data in the binary layout, copied.
fn data_to_wit(data: &TensorData) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.byte_len());
    write_binary(&mut out, data);
    out
}

/// The host form of tensor data a component handed back, checked against
/// the shape and datatype it gave.
fn data_from_wit(
    what: &str,
    name: &str,
    datatype: DataType,
    shape: &[i64],
    data: Vec<u8>,
) -> Result<TensorData, String> {
    let count = element_count(shape)
        .ok_or_else(|| format!("{what} '{name}' has an invalid shape {shape:?}"))?;
    decode_binary(datatype, count, Bytes::from(data)).map_err(|e| format!("{what} '{name}': {e}"))
}

/// A model's request, moving the tensors (their data is not copied unless
/// it is a slice of a larger buffer).
pub(crate) fn request(
    id: String,
    req: &mut InferenceRequest,
    meta: &ModelMetadata,
) -> wit::InferenceRequest {
    wit::InferenceRequest {
        id,
        inputs: std::mem::take(&mut req.inputs)
            .into_iter()
            .map(|t| wit::Tensor {
                spec: index(&meta.inputs, &t.name),
                datatype: t.datatype.into(),
                shape: t.shape,
                data: data_into_wit(t.data),
            })
            .collect(),
        outputs: (!req.outputs.is_empty()).then(|| {
            req.outputs
                .iter()
                .map(|o| index(&meta.outputs, &o.name))
                .collect()
        }),
        parameters: (!req.parameters.is_empty()).then(|| params_to_wit(&req.parameters)),
    }
}

/// The host form of a model's answer; an output index past the declared
/// outputs, or data that does not fit its shape, is the model's fault.
pub(crate) fn response_from(
    r: wit::InferenceResponse,
    meta: &ModelMetadata,
) -> Result<InferenceResponse, String> {
    let outputs = r
        .outputs
        .into_iter()
        .map(|t| {
            let spec = meta.outputs.get(t.spec as usize).ok_or_else(|| {
                format!(
                    "output index {} is not one of the {} declared outputs",
                    t.spec,
                    meta.outputs.len()
                )
            })?;
            let datatype = DataType::from(t.datatype);
            let data = data_from_wit("output", &spec.name, datatype, &t.shape, t.data)?;
            Ok(Tensor {
                name: spec.name.clone(),
                datatype,
                shape: t.shape,
                data,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(InferenceResponse {
        outputs,
        parameters: params_from_wit(r.parameters),
    })
}

fn named(t: &Tensor) -> wit::NamedTensor {
    wit::NamedTensor {
        name: t.name.clone(),
        datatype: t.datatype.into(),
        shape: t.shape.clone(),
        data: data_to_wit(&t.data),
    }
}

fn named_from_wit(what: &str, t: wit::NamedTensor) -> Result<Tensor, String> {
    let datatype = DataType::from(t.datatype);
    let data = data_from_wit(what, &t.name, datatype, &t.shape, t.data)?;
    Ok(Tensor {
        name: t.name,
        datatype,
        shape: t.shape,
        data,
    })
}

/// A request as a policy sees it (a copy: the host keeps its own).
fn policy_request(req: &InferenceRequest) -> filter::PolicyRequest {
    filter::PolicyRequest {
        inputs: req.inputs.iter().map(named).collect(),
        outputs: req.outputs.iter().map(|o| o.name.clone()).collect(),
        parameters: params_to_wit(&req.parameters),
    }
}

/// A response as a policy sees it (a copy).
fn policy_response(r: &InferenceResponse) -> filter::PolicyResponse {
    filter::PolicyResponse {
        outputs: r.outputs.iter().map(named).collect(),
        parameters: params_to_wit(&r.parameters),
    }
}

/// The host form of what a policy's metadata says it reads.
pub(crate) fn reads(m: &filter::PolicyMetadata) -> Reads {
    Reads {
        request: m.reads.contains(filter::Reads::REQUEST),
        response: m.reads.contains(filter::Reads::RESPONSE),
    }
}

/// The arguments of `on-request`: the request only if the policy reads it.
pub(crate) fn on_request_args(
    ctx: &PolicyContext,
    req: &InferenceRequest,
    reads: Reads,
) -> (filter::RequestContext, Option<filter::PolicyRequest>) {
    (
        context_to_wit(ctx),
        reads.request.then(|| policy_request(req)),
    )
}

/// The arguments of `on-response`: each part only if the policy reads it.
pub(crate) fn on_response_args(
    ctx: &PolicyContext,
    req: &InferenceRequest,
    resp: &InferenceResponse,
    reads: Reads,
) -> (
    filter::RequestContext,
    Option<filter::PolicyRequest>,
    Option<filter::PolicyResponse>,
) {
    (
        context_to_wit(ctx),
        reads.request.then(|| policy_request(req)),
        reads.response.then(|| policy_response(resp)),
    )
}

/// The host form of a request decision; a rewrite whose data does not fit
/// its shapes is the policy's fault.
pub(crate) fn request_decision(
    d: filter::RequestDecision,
) -> Result<Decision<RequestRewrite>, String> {
    use filter::RequestDecision as D;
    Ok(match d {
        D::Allow => Decision::Allow,
        D::Deny(d) => denial(d),
        D::Rewrite(r) => Decision::Rewrite(RequestRewrite {
            inputs: r
                .inputs
                .into_iter()
                .map(|t| named_from_wit("input", t))
                .collect::<Result<_, _>>()?,
            outputs: r.outputs,
            parameters: params_from_wit(r.parameters),
        }),
    })
}

/// The host form of a response decision.
pub(crate) fn response_decision(
    d: filter::ResponseDecision,
) -> Result<Decision<InferenceResponse>, String> {
    use filter::ResponseDecision as D;
    Ok(match d {
        D::Allow => Decision::Allow,
        D::Deny(d) => denial(d),
        D::Rewrite(r) => Decision::Rewrite(InferenceResponse {
            outputs: r
                .outputs
                .into_iter()
                .map(|t| named_from_wit("output", t))
                .collect::<Result<_, _>>()?,
            parameters: params_from_wit(r.parameters),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{RequestedOutput, Strings};

    fn meta() -> ModelMetadata {
        let spec = |name: &str, datatype| TensorSpec {
            name: name.into(),
            datatype,
            shape: vec![-1],
        };
        ModelMetadata {
            name: String::new(),
            version: String::new(),
            platform: String::new(),
            inputs: vec![spec("a", DataType::F32), spec("text", DataType::Bytes)],
            outputs: vec![spec("y", DataType::F32), spec("label", DataType::Bytes)],
        }
    }

    #[test]
    fn a_request_names_specs_by_index_and_packs_bytes() {
        let strings: Strings = [&b"hi"[..], b""].into_iter().collect();
        let mut req = InferenceRequest {
            inputs: vec![
                Tensor {
                    name: "text".into(),
                    datatype: DataType::Bytes,
                    shape: vec![2],
                    data: TensorData::Strings(strings),
                },
                Tensor {
                    name: "a".into(),
                    datatype: DataType::F32,
                    shape: vec![1],
                    data: TensorData::Raw(Bytes::from_static(&[0, 0, 128, 63])),
                },
            ],
            outputs: vec![RequestedOutput {
                name: "label".into(),
                binary: None,
            }],
            ..Default::default()
        };
        let wit = request("r1".into(), &mut req, &meta());
        assert_eq!(wit.inputs[0].spec, 1);
        assert_eq!(wit.inputs[0].data, [2, 0, 0, 0, b'h', b'i', 0, 0, 0, 0]);
        assert_eq!(wit.inputs[1].spec, 0);
        assert_eq!(wit.inputs[1].data, [0, 0, 128, 63]);
        assert_eq!(wit.outputs, Some(vec![1]));
        assert!(wit.parameters.is_none(), "no parameters, no list");
        req.outputs.clear();
        assert!(request("r2".into(), &mut req, &meta()).outputs.is_none());
    }

    #[test]
    fn an_answer_is_checked_against_the_declared_outputs() {
        let answer = |spec, data: Vec<u8>| wit::InferenceResponse {
            outputs: vec![wit::Tensor {
                spec,
                datatype: wit::Datatype::Bytes,
                shape: vec![1],
                data,
            }],
            parameters: Vec::new(),
        };
        let ok = response_from(answer(1, vec![1, 0, 0, 0, b'x']), &meta()).unwrap();
        assert_eq!(ok.outputs[0].name, "label");
        let TensorData::Strings(s) = &ok.outputs[0].data else {
            panic!("BYTES data");
        };
        assert_eq!(s.get(0), Some(&b"x"[..]));
        let past = response_from(answer(2, vec![1, 0, 0, 0, b'x']), &meta()).unwrap_err();
        assert!(past.contains("not one of the 2 declared outputs"), "{past}");
        let overrun = response_from(answer(1, vec![9, 0, 0, 0, b'x']), &meta()).unwrap_err();
        assert!(overrun.contains("output 'label'"), "{overrun}");
        let short = response_from(answer(1, vec![1, 0]), &meta()).unwrap_err();
        assert!(short.contains("truncated"), "{short}");
    }
}

//! Bindings for `edgeserve:ml@0.2.x` (`wit/edgeserve.wit`), the current
//! version: a tensor's data is one byte buffer in the binary extension's
//! layout, a model's tensors are named by spec index, and a policy gets
//! only what its metadata says it reads.
//!
//! The host lowers borrowed values: a tensor's data goes from the request
//! (often a slice of the body it arrived in) straight into the component's
//! memory, and a policy's context and tensors are not cloned first. Each
//! call builds its arguments in steps, because the WIT records point into
//! lists: BYTES data not yet in the binary layout is packed ([`Packed`];
//! usually there is none), the parts ([`RequestParts`], [`PolicyParts`])
//! hold the lists, borrowing the host's values, and the records borrow the
//! parts.

use bytes::Bytes;

use crate::policy_abi::{Decision, PolicyContext, Reads, RequestRewrite};
use crate::protocol::{decode_binary, write_binary};
use crate::tensor::{
    DataType, InferenceRequest, InferenceResponse, ModelMetadata, ParamValue, Parameters, Tensor,
    TensorData, TensorSpec, element_count,
};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "model",
    imports: { default: async },
    exports: { default: async },
    // Arguments are lowered from borrowed values; `*Param` types borrow,
    // `*Result` types are what a component hands back.
    ownership: Borrowing { duplicate_if_necessary: true },
});

/// The types every world shares (datatypes, parameters).
pub(crate) use edgeserve::ml::types as wit;
/// A model's records and exports.
pub(crate) use exports::edgeserve::ml::inference;

/// Bindings for the `policy` world; its shared types and its imports are
/// the model world's.
pub(crate) mod policy {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy",
        imports: { default: async },
        exports: { default: async },
        ownership: Borrowing { duplicate_if_necessary: true },
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

super::datatype_conversions!(super::v2::wit);
super::model_conversions!(super::v2::inference);

/// Index of the spec called `name`; the host has checked that it exists
/// (an index past the end would be the component's to refuse).
fn index(specs: &[TensorSpec], name: &str) -> u32 {
    specs
        .iter()
        .position(|s| s.name == name)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(u32::MAX)
}

/// The data of the tensors whose data is not already in the binary layout
/// (BYTES built from JSON), packed, in tensor order: the first step of
/// building arguments. Usually empty, and then it allocates nothing.
#[derive(Default)]
pub(crate) struct Packed(Vec<Vec<u8>>);

impl Packed {
    /// Packs what `tensors` need packed.
    pub(crate) fn new(tensors: &[Tensor]) -> Packed {
        Packed(
            tensors
                .iter()
                .filter(|t| t.data.as_binary().is_none())
                .map(|t| {
                    let mut out = Vec::with_capacity(t.data.byte_len());
                    write_binary(&mut out, &t.data);
                    out
                })
                .collect(),
        )
    }

    /// Each of `tensors`' data in the binary layout, in order: borrowed
    /// from the tensor, or from here.
    fn data<'a>(&'a self, tensors: &'a [Tensor]) -> impl Iterator<Item = &'a [u8]> {
        let mut packed = self.0.iter();
        tensors.iter().map(move |t| {
            t.data
                .as_binary()
                .or_else(|| packed.next().map(Vec::as_slice))
                .unwrap_or_default()
        })
    }
}

/// Parameters as a component reads them (borrowed).
fn params_to_wit(params: &Parameters) -> Vec<wit::ParameterParam<'_>> {
    params
        .iter()
        .map(|(name, v)| wit::ParameterParam {
            name,
            value: match v {
                ParamValue::Text(s) => wit::ParamValueParam::Text(s),
                ParamValue::Int(i) => wit::ParamValueParam::Integer(*i),
                ParamValue::Float(f) => wit::ParamValueParam::Float(*f),
                ParamValue::Bool(b) => wit::ParamValueParam::Boolean(*b),
            },
        })
        .collect()
}

/// The host form of the parameters a component handed back.
fn params_from_wit(params: Vec<wit::ParameterResult>) -> Parameters {
    params
        .into_iter()
        .map(|p| {
            let v = match p.value {
                wit::ParamValueResult::Text(s) => ParamValue::Text(s),
                wit::ParamValueResult::Integer(i) => ParamValue::Int(i),
                wit::ParamValueResult::Float(f) => ParamValue::Float(f),
                wit::ParamValueResult::Boolean(b) => ParamValue::Bool(b),
            };
            (p.name, v)
        })
        .collect()
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

/// The lists a model's request record points into, borrowing the request
/// and its [`Packed`] data.
pub(crate) struct RequestParts<'a> {
    inputs: Vec<inference::TensorParam<'a>>,
    outputs: Option<Vec<u32>>,
    parameters: Option<Vec<wit::ParameterParam<'a>>>,
}

impl<'a> RequestParts<'a> {
    /// The parts of `req` for the model described by `meta`; `packed` is
    /// `Packed::new(&req.inputs)`.
    pub(crate) fn new(
        req: &'a InferenceRequest,
        packed: &'a Packed,
        meta: &ModelMetadata,
    ) -> RequestParts<'a> {
        RequestParts {
            inputs: req
                .inputs
                .iter()
                .zip(packed.data(&req.inputs))
                .map(|(t, data)| inference::TensorParam {
                    spec: index(&meta.inputs, &t.name),
                    datatype: t.datatype.into(),
                    shape: &t.shape,
                    data,
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

    /// The request record, with its id.
    pub(crate) fn request<'b>(&'b self, id: &'b str) -> inference::InferenceRequest<'b> {
        inference::InferenceRequest {
            id,
            inputs: &self.inputs,
            outputs: self.outputs.as_deref(),
            parameters: self.parameters.as_deref(),
        }
    }
}

/// The host form of a model's answer; an output index past the declared
/// outputs, or data that does not fit its shape, is the model's fault.
pub(crate) fn response_from(
    r: inference::InferenceResponse,
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

/// The context in its WIT form (borrowed): the parts the policy reads.
fn context_to_wit<'a>(
    c: &'a PolicyContext,
    headers: &'a [filter::Header<'a>],
    reads: Reads,
) -> filter::RequestContext<'a> {
    use crate::policy_abi::AuthMethod;
    filter::RequestContext {
        request_id: reads.request_id.then_some(c.request_id.as_str()),
        identity: reads.identity.then_some(filter::Identity {
            tenant: c.tenant.as_deref(),
            principal: c.principal.as_deref(),
            auth_method: match c.auth_method {
                AuthMethod::Anonymous => filter::AuthMethod::Anonymous,
                AuthMethod::ApiKey => filter::AuthMethod::ApiKey,
                AuthMethod::Jwt => filter::AuthMethod::Jwt,
                AuthMethod::Mtls => filter::AuthMethod::Mtls,
            },
        }),
        route: reads.route.then_some(filter::Route {
            model: &c.model,
            version: &c.version,
        }),
        headers: reads.headers.then_some(headers),
        client_address: reads.client_address.then_some(c.client_address.as_str()),
    }
}

/// Named tensors as a policy reads them; `packed` is `Packed::new(tensors)`.
fn named<'a>(tensors: &'a [Tensor], packed: &'a Packed) -> Vec<filter::NamedTensorParam<'a>> {
    tensors
        .iter()
        .zip(packed.data(tensors))
        .map(|(t, data)| filter::NamedTensorParam {
            name: &t.name,
            datatype: t.datatype.into(),
            shape: &t.shape,
            data,
        })
        .collect()
}

fn named_from_wit(what: &str, t: filter::NamedTensorResult) -> Result<Tensor, String> {
    let datatype = DataType::from(t.datatype);
    let data = data_from_wit(what, &t.name, datatype, &t.shape, t.data)?;
    Ok(Tensor {
        name: t.name,
        datatype,
        shape: t.shape,
        data,
    })
}

/// The packed data of what a policy reads (the first step of building its
/// arguments; empty for what it does not read).
pub(crate) struct PolicyData {
    request: Packed,
    response: Packed,
}

impl PolicyData {
    /// What `req`'s inputs and `resp`'s outputs need packed, as far as
    /// `reads` says the policy reads them.
    pub(crate) fn new(
        req: &InferenceRequest,
        resp: Option<&InferenceResponse>,
        reads: Reads,
    ) -> PolicyData {
        PolicyData {
            request: if reads.request {
                Packed::new(&req.inputs)
            } else {
                Packed::default()
            },
            response: match resp {
                Some(r) if reads.response => Packed::new(&r.outputs),
                _ => Packed::default(),
            },
        }
    }
}

/// The lists a policy's arguments point into, borrowing the context, the
/// request, the response and their [`PolicyData`]; only what the policy
/// reads is built.
pub(crate) struct PolicyParts<'a> {
    context: &'a PolicyContext,
    reads: Reads,
    headers: Vec<filter::Header<'a>>,
    request: Option<ListParts<'a>>,
    response: Option<ListParts<'a>>,
}

/// A request's or a response's lists as a policy reads them.
struct ListParts<'a> {
    tensors: Vec<filter::NamedTensorParam<'a>>,
    outputs: Vec<&'a str>,
    parameters: Vec<wit::ParameterParam<'a>>,
}

impl<'a> PolicyParts<'a> {
    /// The parts of a policy call: `resp` is `None` for `on-request`.
    pub(crate) fn new(
        context: &'a PolicyContext,
        req: &'a InferenceRequest,
        resp: Option<&'a InferenceResponse>,
        data: &'a PolicyData,
        reads: Reads,
    ) -> PolicyParts<'a> {
        PolicyParts {
            context,
            reads,
            headers: if reads.headers {
                context
                    .headers
                    .iter()
                    .map(|(name, value)| filter::Header { name, value })
                    .collect()
            } else {
                Vec::new()
            },
            request: reads.request.then(|| ListParts {
                tensors: named(&req.inputs, &data.request),
                outputs: req.outputs.iter().map(|o| o.name.as_str()).collect(),
                parameters: params_to_wit(&req.parameters),
            }),
            response: resp.filter(|_| reads.response).map(|r| ListParts {
                tensors: named(&r.outputs, &data.response),
                outputs: Vec::new(),
                parameters: params_to_wit(&r.parameters),
            }),
        }
    }

    /// The context record.
    pub(crate) fn context(&self) -> filter::RequestContext<'_> {
        context_to_wit(self.context, &self.headers, self.reads)
    }

    /// The request record, if the policy reads it.
    pub(crate) fn request(&self) -> Option<filter::PolicyRequestParam<'_>> {
        self.request.as_ref().map(|p| filter::PolicyRequestParam {
            inputs: &p.tensors,
            outputs: &p.outputs,
            parameters: &p.parameters,
        })
    }

    /// The response record, if the policy reads it.
    pub(crate) fn response(&self) -> Option<filter::PolicyResponseParam<'_>> {
        self.response.as_ref().map(|p| filter::PolicyResponseParam {
            outputs: &p.tensors,
            parameters: &p.parameters,
        })
    }
}

/// The host form of what a policy's metadata says it reads.
pub(crate) fn reads(m: &filter::PolicyMetadata) -> Reads {
    use filter::Reads as R;
    Reads {
        request: m.reads.contains(R::REQUEST),
        response: m.reads.contains(R::RESPONSE),
        request_id: m.reads.contains(R::REQUEST_ID),
        identity: m.reads.contains(R::IDENTITY),
        route: m.reads.contains(R::ROUTE),
        headers: m.reads.contains(R::HEADERS),
        client_address: m.reads.contains(R::CLIENT_ADDRESS),
    }
}

/// The host form of a request decision; a rewrite whose data does not fit
/// its shapes is the policy's fault.
pub(crate) fn request_decision(
    d: filter::RequestDecision,
) -> Result<Decision<RequestRewrite>, String> {
    use filter::RequestDecision as D;
    Ok(match d {
        D::Allow => Decision::Allow,
        D::Deny(d) => super::denial(d.status, d.reason),
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
        D::Deny(d) => super::denial(d.status, d.reason),
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
        let meta = meta();
        let data = Packed::new(&req.inputs);
        let parts = RequestParts::new(&req, &data, &meta);
        let wit = parts.request("r1");
        assert_eq!(wit.id, "r1");
        assert_eq!(wit.inputs[0].spec, 1);
        assert_eq!(wit.inputs[0].data, [2, 0, 0, 0, b'h', b'i', 0, 0, 0, 0]);
        assert_eq!(wit.inputs[1].spec, 0);
        assert_eq!(wit.inputs[1].data, [0, 0, 128, 63]);
        let TensorData::Raw(raw) = &req.inputs[1].data else {
            panic!("FP32 data");
        };
        assert_eq!(
            wit.inputs[1].data.as_ptr(),
            raw.as_ptr(),
            "raw data is lowered from where it is, not copied first"
        );
        assert_eq!(wit.outputs, Some(&[1][..]));
        assert!(wit.parameters.is_none(), "no parameters, no list");
        assert_eq!(data.0.len(), 1, "only the BYTES built from JSON is packed");
        drop(parts);
        req.outputs.clear();
        let parts = RequestParts::new(&req, &data, &meta);
        assert!(parts.request("r2").outputs.is_none());
    }

    #[test]
    fn an_answer_is_checked_against_the_declared_outputs() {
        let answer = |spec, data: Vec<u8>| inference::InferenceResponse {
            outputs: vec![inference::TensorResult {
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

    #[test]
    fn a_policy_gets_only_what_it_reads() {
        use crate::policy_abi::AuthMethod;
        let ctx = PolicyContext {
            request_id: "r1".into(),
            tenant: Some("acme".into()),
            principal: Some("ci".into()),
            auth_method: AuthMethod::ApiKey,
            model: "iris".into(),
            version: "2".into(),
            headers: vec![("x-team".into(), "ml".into())],
            client_address: "127.0.0.1:9".into(),
        };
        let req = InferenceRequest {
            inputs: vec![Tensor {
                name: "a".into(),
                datatype: DataType::F32,
                shape: vec![1],
                data: TensorData::Raw(Bytes::from_static(&[0, 0, 128, 63])),
            }],
            ..Default::default()
        };
        let resp = InferenceResponse::default();
        let identity = Reads {
            identity: true,
            ..NONE
        };
        let data = PolicyData::new(&req, Some(&resp), identity);
        let parts = PolicyParts::new(&ctx, &req, Some(&resp), &data, identity);
        let c = parts.context();
        let who = c.identity.as_ref().expect("identity is read");
        assert_eq!((who.tenant, who.principal), (Some("acme"), Some("ci")));
        assert!(matches!(who.auth_method, filter::AuthMethod::ApiKey));
        assert!(c.request_id.is_none() && c.route.is_none());
        assert!(c.headers.is_none() && c.client_address.is_none());
        assert!(parts.request().is_none() && parts.response().is_none());

        let data = PolicyData::new(&req, Some(&resp), Reads::ALL);
        let parts = PolicyParts::new(&ctx, &req, Some(&resp), &data, Reads::ALL);
        let c = parts.context();
        assert_eq!(c.request_id, Some("r1"));
        assert_eq!(
            c.route.as_ref().map(|r| (r.model, r.version)),
            Some(("iris", "2"))
        );
        let headers = c.headers.expect("headers are read");
        assert_eq!((headers[0].name, headers[0].value), ("x-team", "ml"));
        assert_eq!(c.client_address, Some("127.0.0.1:9"));
        let seen = parts.request().expect("the request is read");
        assert_eq!(seen.inputs[0].name, "a");
        assert_eq!(seen.inputs[0].data, [0, 0, 128, 63]);
        assert!(parts.response().is_some());
    }

    /// Nothing read.
    const NONE: Reads = Reads {
        request: false,
        response: false,
        request_id: false,
        identity: false,
        route: false,
        headers: false,
        client_address: false,
    };
}

//! A policy built against WIT `edgeserve:ml@0.1.1` (before policies
//! declared what they read), straight on wit-bindgen. It proves the host
//! still runs such policies and converts everything they see and answer:
//!
//! - `on-request`: with the text parameter `legacy` = `deny`, denies with
//!   status 451 and a reason listing the tenant and every input it saw
//!   (`name:DATATYPE:[shape]:elements`); otherwise allows.
//! - `on-response`: rewrites every BYTES output to upper case (so a test
//!   sees BYTES elements cross both ways) and adds the parameter
//!   `legacy_saw` = the number of request inputs.

wit_bindgen::generate!({
    path: "wit",
    world: "policy",
});

use edgeserve::ml::types::{
    Datatype, InferenceRequest, InferenceResponse, ParamValue, Parameter, TensorData,
};
use exports::edgeserve::ml::filter::{
    Denial, Guest, RequestContext, RequestDecision, ResponseDecision,
};

/// The policy.
struct LegacyPolicy;

/// What the reason lists for one input.
fn describe(t: &edgeserve::ml::types::Tensor) -> String {
    let elements = match &t.data {
        TensorData::Raw(b) => b.len(),
        TensorData::Strings(s) => s.len(),
    };
    format!("{}:{:?}:{:?}:{elements}", t.name, t.datatype, t.shape)
}

impl Guest for LegacyPolicy {
    fn on_request(context: RequestContext, request: InferenceRequest) -> RequestDecision {
        let deny = request
            .parameters
            .iter()
            .any(|p| p.name == "legacy" && matches!(&p.value, ParamValue::Text(v) if v == "deny"));
        if !deny {
            return RequestDecision::Allow;
        }
        let inputs: Vec<String> = request.inputs.iter().map(describe).collect();
        RequestDecision::Deny(Denial {
            status: 451,
            reason: format!(
                "legacy saw tenant={} inputs={}",
                context.tenant.as_deref().unwrap_or("-"),
                inputs.join(",")
            ),
        })
    }

    fn on_response(
        _context: RequestContext,
        request: InferenceRequest,
        mut response: InferenceResponse,
    ) -> ResponseDecision {
        for t in &mut response.outputs {
            if let (Datatype::Bytes, TensorData::Strings(s)) = (t.datatype, &mut t.data) {
                for e in s.iter_mut() {
                    e.make_ascii_uppercase();
                }
            }
        }
        response.parameters.push(Parameter {
            name: "legacy_saw".to_string(),
            value: ParamValue::Integer(request.inputs.len() as i64),
        });
        ResponseDecision::Rewrite(response)
    }
}

export!(LegacyPolicy);

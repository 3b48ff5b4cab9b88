//! Checks a decoded request against a model's declared specs before the
//! model runs, and the model's answer before it is encoded.

use super::ProtocolError;
use crate::tensor::{
    InferenceRequest, InferenceResponse, ModelMetadata, Tensor, TensorData, TensorSpec,
};

fn names(specs: &[TensorSpec]) -> String {
    specs
        .iter()
        .map(|s| format!("{} ({} {:?})", s.name, s.datatype, s.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks names, datatypes and shapes of every input (all declared inputs
/// are required), and that every requested output exists. `model` is the
/// name the model is served under (what the client called), which messages
/// use; `meta.name` is what the component calls itself.
pub fn check_request(
    model: &str,
    meta: &ModelMetadata,
    req: &InferenceRequest,
) -> Result<(), ProtocolError> {
    let mismatch = |m: String| Err(ProtocolError::Mismatch(m));
    for (i, input) in req.inputs.iter().enumerate() {
        if req.inputs[..i].iter().any(|o| o.name == input.name) {
            return mismatch(format!("input '{}' is given twice", input.name));
        }
        let Some(spec) = meta.inputs.iter().find(|s| s.name == input.name) else {
            return mismatch(format!(
                "unexpected input '{}'; model '{}' takes: {}",
                input.name,
                model,
                names(&meta.inputs)
            ));
        };
        if spec.datatype != input.datatype {
            return mismatch(format!(
                "input '{}' must be {}, got {}",
                input.name, spec.datatype, input.datatype
            ));
        }
        if !spec.shape_matches(&input.shape) {
            return mismatch(format!(
                "input '{}' has shape {:?}, model expects {:?} (-1 is any size)",
                input.name, input.shape, spec.shape
            ));
        }
    }
    if let Some(missing) = meta
        .inputs
        .iter()
        .find(|s| !req.inputs.iter().any(|i| i.name == s.name))
    {
        return mismatch(format!(
            "missing input '{}' ({} {:?})",
            missing.name, missing.datatype, missing.shape
        ));
    }
    for out in &req.outputs {
        if !meta.outputs.iter().any(|s| s.name == out.name) {
            return mismatch(format!(
                "unknown output '{}'; model '{}' produces: {}",
                out.name,
                model,
                names(&meta.outputs)
            ));
        }
    }
    Ok(())
}

/// Checks a model's answer: every tensor's data fits its shape and
/// datatype. Returns a description of the first fault.
pub fn check_outputs(response: &InferenceResponse) -> Result<(), String> {
    response
        .outputs
        .iter()
        .try_for_each(|t| check_tensor("output", t))
}

/// Checks that every input's data fits its shape and datatype (for inputs
/// that did not come through the decoder, such as a policy's rewrite).
pub fn check_inputs_fit(request: &InferenceRequest) -> Result<(), String> {
    request
        .inputs
        .iter()
        .try_for_each(|t| check_tensor("input", t))
}

fn check_tensor(what: &str, t: &Tensor) -> Result<(), String> {
    let count = t
        .element_count()
        .ok_or_else(|| format!("{what} '{}' has an invalid shape {:?}", t.name, t.shape))?;
    match (&t.data, t.datatype.element_size()) {
        (TensorData::Raw(b), Some(size)) if b.len() == count.saturating_mul(size) => Ok(()),
        (TensorData::Strings(s), None) if s.len() == count => Ok(()),
        (data, _) => Err(format!(
            "{what} '{}' ({} {:?}) carries {} of data that does not fit its shape",
            t.name,
            t.datatype,
            t.shape,
            match data {
                TensorData::Raw(b) => format!("{} bytes", b.len()),
                TensorData::Strings(s) => format!("{} strings", s.len()),
            }
        )),
    }
}

/// Keeps only the outputs the client asked for, in the order asked.
pub fn select_outputs(req: &InferenceRequest, response: &mut InferenceResponse) {
    if req.outputs.is_empty() {
        return;
    }
    let mut all = std::mem::take(&mut response.outputs);
    for want in &req.outputs {
        if let Some(pos) = all.iter().position(|t| t.name == want.name) {
            response.outputs.push(all.swap_remove(pos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{DataType, RequestedOutput};

    fn meta() -> ModelMetadata {
        ModelMetadata {
            name: "iris".into(),
            version: "1".into(),
            platform: "rust".into(),
            inputs: vec![TensorSpec {
                name: "x".into(),
                datatype: DataType::F32,
                shape: vec![-1, 4],
            }],
            outputs: vec![TensorSpec {
                name: "p".into(),
                datatype: DataType::F32,
                shape: vec![-1, 3],
            }],
        }
    }

    fn input(name: &str, dt: DataType, shape: Vec<i64>) -> Tensor {
        Tensor {
            name: name.into(),
            datatype: dt,
            shape,
            data: TensorData::Raw(Default::default()),
        }
    }

    #[test]
    fn accepts_matching_and_rejects_mismatches() {
        let ok = InferenceRequest {
            inputs: vec![input("x", DataType::F32, vec![2, 4])],
            ..Default::default()
        };
        check_request("served", &meta(), &ok).unwrap();
        let bad = [
            (
                vec![input("y", DataType::F32, vec![1, 4])],
                "unexpected input 'y'; model 'served' takes: x (FP32 [-1, 4])",
            ),
            (vec![input("x", DataType::F64, vec![1, 4])], "must be FP32"),
            (vec![input("x", DataType::F32, vec![1, 5])], "has shape"),
            (vec![input("x", DataType::F32, vec![4])], "has shape"),
            (vec![], "missing input 'x'"),
        ];
        for (inputs, want) in bad {
            let req = InferenceRequest {
                inputs,
                ..Default::default()
            };
            let err = check_request("served", &meta(), &req)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
        let req = InferenceRequest {
            inputs: vec![input("x", DataType::F32, vec![1, 4])],
            outputs: vec![RequestedOutput {
                name: "q".into(),
                binary: None,
            }],
            ..Default::default()
        };
        assert!(check_request("served", &meta(), &req).is_err());
    }

    #[test]
    fn checks_output_sizes() {
        let mut t = input("p", DataType::F32, vec![1, 2]);
        t.data = TensorData::Raw(vec![0; 8].into());
        let mut r = InferenceResponse {
            parameters: vec![],
            outputs: vec![t],
        };
        check_outputs(&r).unwrap();
        r.outputs[0].shape = vec![1, 3];
        assert!(check_outputs(&r).is_err());
    }
}

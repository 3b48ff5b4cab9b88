use std::collections::HashMap;

use super::*;
use crate::proto::model_infer_request::InferRequestedOutputTensor;

fn input(
    name: &str,
    datatype: &str,
    shape: &[i64],
    contents: Option<InferTensorContents>,
) -> InferInputTensor {
    InferInputTensor {
        name: name.into(),
        datatype: datatype.into(),
        shape: shape.to_vec(),
        parameters: HashMap::new(),
        contents,
    }
}

fn request(inputs: Vec<InferInputTensor>, raw: Vec<Bytes>) -> ModelInferRequest {
    ModelInferRequest {
        model_name: "iris".into(),
        model_version: String::new(),
        id: "req-1".into(),
        parameters: HashMap::new(),
        inputs,
        outputs: vec![InferRequestedOutputTensor {
            name: "label".into(),
            parameters: HashMap::new(),
        }],
        raw_input_contents: raw,
    }
}

fn f32s(values: &[f32]) -> Bytes {
    Bytes::from(
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

#[test]
fn raw_and_typed_contents_read_the_same() {
    let x = [5.1f32, 3.5, 1.4, 0.2];
    let one = vec![input("input", "FP32", &[1, 4], None)];
    let (target, raw) = request_from_proto(request(one, vec![f32s(&x)])).unwrap();
    assert_eq!(
        target,
        Target {
            model: "iris".into(),
            version: None
        }
    );
    let typed = InferTensorContents {
        fp32_contents: x.to_vec(),
        ..Default::default()
    };
    let one = vec![input("input", "FP32", &[1, 4], Some(typed))];
    let (_, typed) = request_from_proto(request(one, vec![])).unwrap();
    assert_eq!(raw, typed);
    assert_eq!(raw.id.as_deref(), Some("req-1"));
    assert_eq!(raw.outputs[0].name, "label");
    assert_eq!(raw.inputs[0].data, TensorData::Raw(f32s(&x)));
}

#[test]
fn bytes_inputs_raw_and_typed() {
    let mut raw = Vec::new();
    for s in [&b"a dull mess"[..], b"brilliant"] {
        raw.extend((s.len() as u32).to_le_bytes());
        raw.extend_from_slice(s);
    }
    let one = vec![input("text", "BYTES", &[2], None)];
    let (_, r) = request_from_proto(request(one, vec![Bytes::from(raw)])).unwrap();
    let typed = InferTensorContents {
        bytes_contents: vec![
            Bytes::from_static(b"a dull mess"),
            Bytes::from_static(b"brilliant"),
        ],
        ..Default::default()
    };
    let one = vec![input("text", "BYTES", &[2], Some(typed))];
    let (_, t) = request_from_proto(request(one, vec![])).unwrap();
    assert_eq!(r.inputs, t.inputs);
}

#[test]
fn mistakes_are_named_with_their_input() {
    let err = |inputs, raw| request_from_proto(request(inputs, raw)).unwrap_err().0;
    let e = err(vec![input("input", "FP33", &[1], None)], vec![f32s(&[1.0])]);
    assert!(
        e.contains("input 'input': unknown datatype 'FP33'; valid: BOOL"),
        "{e}"
    );
    let e = err(
        vec![input("input", "FP32", &[1, 4], None)],
        vec![f32s(&[1.0])],
    );
    assert!(
        e.starts_with("input 'input':") && e.contains("4 FP32 elements"),
        "{e}"
    );
    let two = vec![
        input("a", "FP32", &[1], None),
        input("b", "FP32", &[1], None),
    ];
    let e = err(two, vec![f32s(&[1.0])]);
    assert!(
        e.contains("raw_input_contents has 1 entries for 2 inputs"),
        "{e}"
    );
    let big = InferTensorContents {
        int_contents: vec![300],
        ..Default::default()
    };
    let e = err(vec![input("q", "INT8", &[1], Some(big))], vec![]);
    assert!(e.contains("int_contents[0] is out of range"), "{e}");
    let half = Some(InferTensorContents::default());
    let e = err(vec![input("h", "FP16", &[1], half)], vec![]);
    assert!(e.contains("raw_input_contents"), "{e}");
    let e = err(vec![input("x", "FP32", &[2], None)], vec![]);
    assert!(e.contains("has no data"), "{e}");
}

#[test]
fn outputs_go_back_raw_with_their_metadata() {
    let response = InferenceResponse {
        parameters: vec![("sequence_end".into(), ParamValue::Bool(true))],
        outputs: vec![
            Tensor {
                name: "probabilities".into(),
                datatype: DataType::F32,
                shape: vec![1, 3],
                data: TensorData::Raw(f32s(&[0.9, 0.05, 0.05])),
            },
            Tensor {
                name: "label".into(),
                datatype: DataType::Bytes,
                shape: vec![1],
                data: TensorData::Strings(["setosa"].into_iter().collect()),
            },
        ],
    };
    let p = response_to_proto("iris", "1", Some("req-1"), &response);
    assert_eq!(
        (
            p.model_name.as_str(),
            p.model_version.as_str(),
            p.id.as_str()
        ),
        ("iris", "1", "req-1")
    );
    assert_eq!(p.outputs[0].datatype, "FP32");
    assert_eq!(p.outputs[1].shape, vec![1]);
    assert_eq!(p.raw_output_contents[0], f32s(&[0.9, 0.05, 0.05]));
    assert_eq!(&p.raw_output_contents[1][..], b"\x06\0\0\0setosa");
    assert!(matches!(
        p.parameters["sequence_end"].parameter_choice,
        Some(ParameterChoice::BoolParam(true))
    ));
}

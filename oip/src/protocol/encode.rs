//! Response encoding: JSON tensors or the binary tensor data extension, and
//! model metadata.

use serde_json::json;

use crate::tensor::{
    DataType, InferenceRequest, InferenceResponse, ModelMetadata, ParamValue, Parameters, Tensor,
    TensorData, TensorSpec,
};

/// An encoded infer response.
#[derive(Debug)]
pub struct EncodedResponse {
    /// The body: a JSON document, followed by binary tensor data when
    /// `header_len` is set.
    pub body: Vec<u8>,
    /// Length of the JSON part when the binary extension is used; goes in
    /// the `Inference-Header-Content-Length` response header.
    pub header_len: Option<usize>,
}

fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing plain strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn write_params(out: &mut Vec<u8>, params: &Parameters, extra: Option<(&str, usize)>) {
    out.push(b'{');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    for (k, v) in params {
        sep(out);
        push_json(out, k);
        out.push(b':');
        match v {
            ParamValue::Text(s) => push_json(out, s),
            ParamValue::Int(i) => push_json(out, i),
            ParamValue::Float(f) => push_json(out, f),
            ParamValue::Bool(b) => push_json(out, b),
        }
    }
    if let Some((k, n)) = extra {
        sep(out);
        push_json(out, k);
        out.push(b':');
        push_json(out, &n);
    }
    out.push(b'}');
}

/// Encodes a model's answer for the client. `request` decides which outputs
/// are returned in binary.
pub fn encode_response(
    model: &str,
    version: &str,
    request: &InferenceRequest,
    response: &InferenceResponse,
) -> EncodedResponse {
    // JSON strings cannot carry bytes that are not UTF-8: such a BYTES
    // output goes in binary (never silently altered), whatever was asked.
    let binary_for = |t: &Tensor| {
        request
            .outputs
            .iter()
            .find(|o| o.name == t.name)
            .and_then(|o| o.binary)
            .unwrap_or(request.binary_output)
            || !json_safe(&t.data)
    };

    let mut out = Vec::with_capacity(256);
    let mut tail: Vec<u8> = Vec::new();
    out.extend_from_slice(b"{\"model_name\":");
    push_json(&mut out, model);
    out.extend_from_slice(b",\"model_version\":");
    push_json(&mut out, version);
    if let Some(id) = &request.id {
        out.extend_from_slice(b",\"id\":");
        push_json(&mut out, id);
    }
    if !response.parameters.is_empty() {
        out.extend_from_slice(b",\"parameters\":");
        write_params(&mut out, &response.parameters, None);
    }
    out.extend_from_slice(b",\"outputs\":[");
    for (i, t) in response.outputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if binary_for(t) {
            out.extend_from_slice(b"{\"name\":");
            push_json(&mut out, &t.name);
            out.extend_from_slice(b",\"datatype\":\"");
            out.extend_from_slice(t.datatype.as_str().as_bytes());
            out.extend_from_slice(b"\",\"shape\":");
            push_json(&mut out, &t.shape);
            let before = tail.len();
            write_binary(&mut tail, &t.data);
            out.extend_from_slice(b",\"parameters\":");
            write_params(
                &mut out,
                &Vec::new(),
                Some(("binary_data_size", tail.len() - before)),
            );
            out.push(b'}');
        } else {
            write_tensor_json(&mut out, t);
        }
    }
    out.extend_from_slice(b"]}");
    if tail.is_empty() && !response.outputs.iter().any(binary_for) {
        EncodedResponse {
            body: out,
            header_len: None,
        }
    } else {
        let header_len = out.len();
        out.extend_from_slice(&tail);
        EncodedResponse {
            body: out,
            header_len: Some(header_len),
        }
    }
}

/// Writes one tensor as an OIP JSON tensor object
/// (`{"name":…,"datatype":…,"shape":…,"data":[…]}`).
pub fn write_tensor_json(out: &mut Vec<u8>, t: &Tensor) {
    out.extend_from_slice(b"{\"name\":");
    push_json(out, &t.name);
    out.extend_from_slice(b",\"datatype\":\"");
    out.extend_from_slice(t.datatype.as_str().as_bytes());
    out.extend_from_slice(b"\",\"shape\":");
    push_json(out, &t.shape);
    out.extend_from_slice(b",\"data\":");
    write_json_data(out, t.datatype, &t.data);
    out.push(b'}');
}

/// Whether JSON can carry this data exactly (BYTES elements must be UTF-8).
fn json_safe(data: &TensorData) -> bool {
    match data {
        TensorData::Raw(_) => true,
        TensorData::Strings(items) => items.iter().all(|s| std::str::from_utf8(s).is_ok()),
    }
}

/// Appends tensor data in the binary layout (raw little-endian elements;
/// BYTES each after its 4-byte length), as the REST binary extension and
/// gRPC's `raw_output_contents` carry it.
pub fn write_binary(out: &mut Vec<u8>, data: &TensorData) {
    match data {
        TensorData::Raw(bytes) => out.extend_from_slice(bytes),
        TensorData::Strings(items) => {
            for item in items.iter() {
                out.extend((item.len() as u32).to_le_bytes());
                out.extend_from_slice(item);
            }
        }
    }
}

fn write_json_data(out: &mut Vec<u8>, datatype: DataType, data: &TensorData) {
    out.push(b'[');
    match data {
        TensorData::Strings(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json(out, &String::from_utf8_lossy(item));
            }
        }
        TensorData::Raw(bytes) => {
            let size = datatype.element_size().unwrap_or(1);
            for (i, c) in bytes.chunks_exact(size).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_element(out, datatype, c);
            }
        }
    }
    out.push(b']');
}

fn write_element(out: &mut Vec<u8>, datatype: DataType, c: &[u8]) {
    macro_rules! le {
        ($t:ty) => {
            <$t>::from_le_bytes(c.try_into().unwrap_or_default())
        };
    }
    match datatype {
        DataType::Bool => out.extend_from_slice(if c[0] != 0 { b"true" } else { b"false" }),
        DataType::U8 => push_json(out, &c[0]),
        DataType::I8 => push_json(out, &(c[0] as i8)),
        DataType::U16 => push_json(out, &le!(u16)),
        DataType::I16 => push_json(out, &le!(i16)),
        DataType::U32 => push_json(out, &le!(u32)),
        DataType::I32 => push_json(out, &le!(i32)),
        DataType::U64 => push_json(out, &le!(u64)),
        DataType::I64 => push_json(out, &le!(i64)),
        DataType::F16 => push_json(out, &half::f16::from_bits(le!(u16)).to_f32()),
        DataType::F32 => push_json(out, &le!(f32)),
        DataType::F64 => push_json(out, &le!(f64)),
        DataType::Bytes => {}
    }
}

fn specs_json(specs: &[TensorSpec]) -> serde_json::Value {
    specs
        .iter()
        .map(|s| json!({"name": s.name, "datatype": s.datatype.as_str(), "shape": s.shape}))
        .collect()
}

/// The model metadata document (`GET /v2/models/{name}[/versions/{v}]`).
pub fn encode_metadata(name: &str, versions: &[String], meta: &ModelMetadata) -> Vec<u8> {
    let doc = json!({
        "name": name,
        "versions": versions,
        "platform": meta.platform,
        "inputs": specs_json(&meta.inputs),
        "outputs": specs_json(&meta.outputs),
    });
    doc.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::RequestedOutput;

    fn response() -> InferenceResponse {
        InferenceResponse {
            parameters: vec![],
            outputs: vec![
                Tensor {
                    name: "p".into(),
                    datatype: DataType::F32,
                    shape: vec![1, 2],
                    data: TensorData::Raw(
                        [0.25f32, 0.75]
                            .iter()
                            .flat_map(|f| f.to_le_bytes())
                            .collect::<Vec<u8>>()
                            .into(),
                    ),
                },
                Tensor {
                    name: "label".into(),
                    datatype: DataType::Bytes,
                    shape: vec![1],
                    data: TensorData::Strings(["cat"].iter().collect()),
                },
            ],
        }
    }

    #[test]
    fn encodes_json() {
        let req = InferenceRequest {
            id: Some("42".into()),
            ..Default::default()
        };
        let enc = encode_response("m", "1", &req, &response());
        assert!(enc.header_len.is_none());
        let v: serde_json::Value = serde_json::from_slice(&enc.body).unwrap();
        assert_eq!(v["id"], "42");
        assert_eq!(v["model_version"], "1");
        assert_eq!(v["outputs"][0]["data"], json!([0.25, 0.75]));
        assert_eq!(v["outputs"][1]["data"], json!(["cat"]));
    }

    #[test]
    fn encodes_binary_per_output() {
        let req = InferenceRequest {
            outputs: vec![
                RequestedOutput {
                    name: "p".into(),
                    binary: Some(true),
                },
                RequestedOutput {
                    name: "label".into(),
                    binary: Some(false),
                },
            ],
            ..Default::default()
        };
        let enc = encode_response("m", "1", &req, &response());
        let n = enc.header_len.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&enc.body[..n]).unwrap();
        assert_eq!(v["outputs"][0]["parameters"]["binary_data_size"], 8);
        assert!(v["outputs"][0].get("data").is_none());
        assert_eq!(v["outputs"][1]["data"], json!(["cat"]));
        assert_eq!(&enc.body[n..n + 4], &0.25f32.to_le_bytes());
        assert_eq!(enc.body.len(), n + 8);
    }

    #[test]
    fn encodes_all_binary_with_bytes_prefix() {
        let req = InferenceRequest {
            binary_output: true,
            ..Default::default()
        };
        let enc = encode_response("m", "1", &req, &response());
        let n = enc.header_len.unwrap();
        assert_eq!(&enc.body[n + 8..], &[3, 0, 0, 0, b'c', b'a', b't']);
    }

    #[test]
    fn bytes_that_are_not_utf8_go_in_binary_unchanged() {
        let mut r = response();
        r.outputs[1].data = TensorData::Strings([&b"\xff\xfe raw"[..]].into_iter().collect());
        let enc = encode_response("m", "1", &InferenceRequest::default(), &r);
        let n = enc.header_len.expect("binary section");
        let v: serde_json::Value = serde_json::from_slice(&enc.body[..n]).unwrap();
        assert_eq!(v["outputs"][0]["data"], json!([0.25, 0.75]));
        assert_eq!(v["outputs"][1]["parameters"]["binary_data_size"], 4 + 6);
        assert_eq!(&enc.body[n + 4..], b"\xff\xfe raw");
    }
}

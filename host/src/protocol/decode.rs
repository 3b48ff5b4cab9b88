//! Request decoding: JSON header, typed flattening of (nested) `data`
//! arrays, and the binary tensor data extension.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::ProtocolError;
use crate::tensor::{
    DataType, InferenceRequest, ParamValue, Parameters, RequestedOutput, Tensor, TensorData,
    element_count,
};

/// HTTP header that carries the length of the JSON part of a request or
/// response using the binary tensor data extension.
pub const HEADER_LENGTH: http::HeaderName =
    http::HeaderName::from_static("inference-header-content-length");

#[derive(Deserialize)]
struct WireRequest<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(borrow)]
    inputs: Vec<WireInput<'a>>,
    #[serde(default)]
    outputs: Vec<WireOutput>,
}

#[derive(Deserialize)]
struct WireInput<'a> {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// Decodes an infer request body. `header_len` is the value of the
/// `Inference-Header-Content-Length` header when the client used the binary
/// extension; the bytes after the JSON header are the tensors' binary data.
pub fn decode_request(
    body: &[u8],
    header_len: Option<usize>,
) -> Result<InferenceRequest, ProtocolError> {
    let (json, mut binary) = match header_len {
        Some(n) if n > body.len() => {
            return Err(ProtocolError::Binary(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            )));
        }
        Some(n) => body.split_at(n),
        None => (body, &[][..]),
    };
    let wire: WireRequest<'_> =
        serde_json::from_slice(json).map_err(|e| ProtocolError::Json(e.to_string()))?;

    let mut inputs = Vec::with_capacity(wire.inputs.len());
    for input in wire.inputs {
        inputs.push(decode_input(input, &mut binary)?);
    }
    if !binary.is_empty() {
        return Err(ProtocolError::Binary(format!(
            "{} bytes of binary data left over after the last input's binary_data_size",
            binary.len()
        )));
    }

    let parameters = convert_params(wire.parameters.unwrap_or_default());
    let binary_output = param_bool(&parameters, "binary_data_output").unwrap_or(false);
    let outputs = wire
        .outputs
        .into_iter()
        .map(|o| {
            let params = convert_params(o.parameters.unwrap_or_default());
            RequestedOutput {
                name: o.name,
                binary: param_bool(&params, "binary_data"),
            }
        })
        .collect();
    Ok(InferenceRequest {
        id: wire.id,
        parameters,
        inputs,
        outputs,
        binary_output,
    })
}

fn decode_input(input: WireInput<'_>, binary: &mut &[u8]) -> Result<Tensor, ProtocolError> {
    let name = input.name;
    let datatype = DataType::parse(&input.datatype).ok_or_else(|| ProtocolError::Datatype {
        input: name.clone(),
        datatype: input.datatype.clone(),
    })?;
    let bad = |reason: String| ProtocolError::Input {
        input: name.clone(),
        reason,
    };
    let count = element_count(&input.shape).ok_or_else(|| {
        bad(format!(
            "shape {:?} has a negative dimension or is too large",
            input.shape
        ))
    })?;
    let params = convert_params(input.parameters.unwrap_or_default());
    let binary_size = match params.iter().find(|(k, _)| k == "binary_data_size") {
        None => None,
        Some((_, ParamValue::Int(n))) if *n >= 0 => Some(*n as usize),
        Some(_) => return Err(bad("binary_data_size must be a non-negative integer".into())),
    };

    let data = match (binary_size, input.data) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "has both 'data' and binary_data_size; send one or the other".into(),
            ));
        }
        (None, None) => return Err(bad("has neither 'data' nor binary_data_size".into())),
        (Some(size), None) => {
            if size > binary.len() {
                return Err(ProtocolError::Binary(format!(
                    "input '{name}' declares binary_data_size {size} but only {} bytes remain",
                    binary.len()
                )));
            }
            let (mine, rest) = binary.split_at(size);
            *binary = rest;
            decode_binary(datatype, count, mine).map_err(bad)?
        }
        (None, Some(raw)) => decode_json_data(datatype, count, raw).map_err(bad)?,
    };
    Ok(Tensor {
        name,
        datatype,
        shape: input.shape,
        data,
    })
}

/// Binary tensor data: raw little-endian elements, or for BYTES a 4-byte
/// little-endian length before each element.
fn decode_binary(datatype: DataType, count: usize, bytes: &[u8]) -> Result<TensorData, String> {
    match datatype.element_size() {
        Some(size) => {
            let want = count.checked_mul(size).ok_or("shape too large")?;
            if bytes.len() != want {
                return Err(format!(
                    "binary_data_size is {} bytes but {count} {datatype} elements need {want}",
                    bytes.len()
                ));
            }
            if datatype == DataType::Bool && bytes.iter().any(|&b| b > 1) {
                return Err("BOOL elements must be 0 or 1".into());
            }
            Ok(TensorData::Raw(bytes.to_vec()))
        }
        None => {
            let mut rest = bytes;
            let mut out = Vec::with_capacity(count.min(bytes.len() / 4));
            while !rest.is_empty() {
                if rest.len() < 4 {
                    return Err("truncated BYTES element length".into());
                }
                let (len, tail) = rest.split_at(4);
                let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if len > tail.len() {
                    return Err(format!(
                        "BYTES element of {len} bytes overruns the binary data"
                    ));
                }
                let (elem, tail) = tail.split_at(len);
                out.push(elem.to_vec());
                rest = tail;
            }
            if out.len() != count {
                return Err(format!(
                    "shape needs {count} BYTES elements but the binary data holds {}",
                    out.len()
                ));
            }
            Ok(TensorData::Strings(out))
        }
    }
}

fn decode_json_data(
    datatype: DataType,
    count: usize,
    raw: &RawValue,
) -> Result<TensorData, String> {
    let mut sink = Sink::new(datatype, count);
    let mut de = serde_json::Deserializer::from_str(raw.get());
    FlatSeed { sink: &mut sink }
        .deserialize(&mut de)
        .map_err(|e| format!("bad data: {e}"))?;
    if sink.count != count {
        return Err(format!(
            "shape needs {count} elements but data has {}",
            sink.count
        ));
    }
    Ok(sink.finish())
}

/// Collects flattened elements of one datatype.
struct Sink {
    datatype: DataType,
    count: usize,
    raw: Vec<u8>,
    strings: Vec<Vec<u8>>,
}

impl Sink {
    fn new(datatype: DataType, count: usize) -> Self {
        let cap = count.min(1 << 20);
        match datatype.element_size() {
            Some(size) => Sink {
                datatype,
                count: 0,
                raw: Vec::with_capacity(cap * size),
                strings: Vec::new(),
            },
            None => Sink {
                datatype,
                count: 0,
                raw: Vec::new(),
                strings: Vec::with_capacity(cap),
            },
        }
    }

    fn finish(self) -> TensorData {
        match self.datatype {
            DataType::Bytes => TensorData::Strings(self.strings),
            _ => TensorData::Raw(self.raw),
        }
    }

    fn mismatch(&self, got: &str) -> String {
        format!("a {got} is not a valid {} element", self.datatype)
    }

    fn push_i128(&mut self, v: i128) -> Result<(), String> {
        let out = &mut self.raw;
        let ok = match self.datatype {
            DataType::U8 => u8::try_from(v).map(|x| out.push(x)).is_ok(),
            DataType::U16 => u16::try_from(v)
                .map(|x| out.extend(x.to_le_bytes()))
                .is_ok(),
            DataType::U32 => u32::try_from(v)
                .map(|x| out.extend(x.to_le_bytes()))
                .is_ok(),
            DataType::U64 => u64::try_from(v)
                .map(|x| out.extend(x.to_le_bytes()))
                .is_ok(),
            DataType::I8 => i8::try_from(v).map(|x| out.extend(x.to_le_bytes())).is_ok(),
            DataType::I16 => i16::try_from(v)
                .map(|x| out.extend(x.to_le_bytes()))
                .is_ok(),
            DataType::I32 => i32::try_from(v)
                .map(|x| out.extend(x.to_le_bytes()))
                .is_ok(),
            DataType::I64 => i64::try_from(v)
                .map(|x| out.extend(x.to_le_bytes()))
                .is_ok(),
            DataType::F16 | DataType::F32 | DataType::F64 => return self.push_f64(v as f64),
            DataType::Bool => match v {
                0 | 1 => {
                    out.push(v as u8);
                    true
                }
                _ => false,
            },
            DataType::Bytes => return Err(self.mismatch("number")),
        };
        if ok {
            self.count += 1;
            Ok(())
        } else {
            Err(format!("{v} is out of range for {}", self.datatype))
        }
    }

    fn push_f64(&mut self, v: f64) -> Result<(), String> {
        match self.datatype {
            DataType::F16 => self
                .raw
                .extend(half::f16::from_f64(v).to_bits().to_le_bytes()),
            DataType::F32 => self.raw.extend((v as f32).to_le_bytes()),
            DataType::F64 => self.raw.extend(v.to_le_bytes()),
            DataType::Bool | DataType::Bytes => return Err(self.mismatch("number")),
            _ => {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(format!("{v} is not a valid {} element", self.datatype));
                }
                return self.push_i128(v as i128);
            }
        }
        self.count += 1;
        Ok(())
    }
}

struct FlatSeed<'s> {
    sink: &'s mut Sink,
}

impl<'de> DeserializeSeed<'de> for FlatSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FlatSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} elements, optionally in nested arrays",
            self.sink.datatype
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(FlatSeed {
                sink: &mut *self.sink,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        if self.sink.datatype != DataType::Bool {
            return Err(E::custom(self.sink.mismatch("boolean")));
        }
        self.sink.raw.push(v as u8);
        self.sink.count += 1;
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.sink.push_i128(v as i128).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.sink.push_i128(v as i128).map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.sink.push_f64(v).map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        if self.sink.datatype != DataType::Bytes {
            return Err(E::custom(self.sink.mismatch("string")));
        }
        self.sink.strings.push(v.as_bytes().to_vec());
        self.sink.count += 1;
        Ok(())
    }
}

fn convert_params(map: Map<String, Value>) -> Parameters {
    map.into_iter()
        .filter_map(|(k, v)| {
            let value = match v {
                Value::Bool(b) => ParamValue::Bool(b),
                Value::String(s) => ParamValue::Text(s),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => ParamValue::Int(i),
                    None => ParamValue::Float(n.as_f64()?),
                },
                // Nested values have no place in the protocol's parameters.
                _ => return None,
            };
            Some((k, value))
        })
        .collect()
}

fn param_bool(params: &Parameters, key: &str) -> Option<bool> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            ParamValue::Bool(b) => Some(*b),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(data: &TensorData) -> Vec<f32> {
        match data {
            TensorData::Raw(b) => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            TensorData::Strings(_) => panic!("not raw"),
        }
    }

    #[test]
    fn decodes_flat_and_nested_json() {
        for body in [
            r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2.5,3,4]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2.5],[3,4]]}]}"#,
        ] {
            let req = decode_request(body.as_bytes(), None).unwrap();
            assert_eq!(f32s(&req.inputs[0].data), vec![1.0, 2.5, 3.0, 4.0]);
        }
    }

    #[test]
    fn decodes_bytes_and_outputs() {
        let body = r#"{"id":"r1","inputs":[{"name":"t","shape":[2],"datatype":"BYTES","data":["hi","yo"]}],
            "outputs":[{"name":"label","parameters":{"binary_data":true}}],
            "parameters":{"binary_data_output":false}}"#;
        let req = decode_request(body.as_bytes(), None).unwrap();
        assert_eq!(req.id.as_deref(), Some("r1"));
        assert_eq!(
            req.inputs[0].data,
            TensorData::Strings(vec![b"hi".to_vec(), b"yo".to_vec()])
        );
        assert_eq!(req.outputs[0].binary, Some(true));
        assert!(!req.binary_output);
    }

    #[test]
    fn rejects_wrong_counts_and_types() {
        let cases = [
            (
                r#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#,
                "needs 3",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[300]}]}"#,
                "out of range",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP33","data":[1]}]}"#,
                "unknown datatype",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]}"#,
                "string",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#,
                "negative",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#,
                "neither",
            ),
            (r#"{"inputs":[{"name":"x""#, "malformed"),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]}"#,
                "1.5",
            ),
        ];
        for (body, want) in cases {
            let err = decode_request(body.as_bytes(), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn decodes_binary_extension() {
        let header = r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
            {"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}]}"#;
        let mut body = header.as_bytes().to_vec();
        body.extend(1.5f32.to_le_bytes());
        body.extend((-2.0f32).to_le_bytes());
        body.extend(2u32.to_le_bytes());
        body.extend(b"hi");
        body.extend(1u32.to_le_bytes());
        body.extend(b"y");
        let req = decode_request(&body, Some(header.len())).unwrap();
        assert_eq!(f32s(&req.inputs[0].data), vec![1.5, -2.0]);
        assert_eq!(
            req.inputs[1].data,
            TensorData::Strings(vec![b"hi".to_vec(), b"y".to_vec()])
        );

        // One byte too many, too few, and a header length past the end.
        let mut extra = body.clone();
        extra.push(0);
        assert!(decode_request(&extra, Some(header.len())).is_err());
        assert!(decode_request(&body[..body.len() - 1], Some(header.len())).is_err());
        assert!(decode_request(&body, Some(body.len() + 1)).is_err());
    }
}

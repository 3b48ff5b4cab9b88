//! Request decoding: JSON header, typed flattening of (nested) `data`
//! arrays, and the binary tensor data extension.
//!
//! Decoding is two steps so that memory is budgeted before it is spent:
//! [`parse_request`] reads the JSON header and works out what the decoded
//! request will take ([`ParsedRequest::memory`]: its tensors on the host
//! and their copy handed to the model), then [`ParsedRequest::decode`]
//! builds the tensors. Binary tensor data is taken as slices of the body,
//! never copied; BYTES elements are stored flat.

use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::wire::{WireInput, WireRequest, params_memory};

use super::ProtocolError;
use crate::tensor::{
    DataType, InferenceRequest, ParamValue, Parameters, RequestedOutput, Strings, StringsBuilder,
    Tensor, TensorData, element_count,
};

/// HTTP header that carries the length of the JSON part of a request or
/// response using the binary tensor data extension.
pub const HEADER_LENGTH: http::HeaderName =
    http::HeaderName::from_static("inference-header-content-length");

/// Longest request id accepted.
const MAX_ID: usize = 1024;
/// What one BYTES element costs beyond its bytes: its span on the host,
/// and the vector (header and allocation) of the copy handed to the model.
const BYTES_ELEMENT_COST: usize = 16 + 24 + 16;

/// One input whose header is read: where its data is and what it costs.
struct PlannedInput<'a> {
    name: String,
    datatype: DataType,
    shape: Vec<i64>,
    count: usize,
    source: Source<'a>,
    /// What its header entry (name, shape, parameters) takes.
    header: usize,
}

/// Where an input's data is.
enum Source<'a> {
    /// JSON `data`.
    Json(&'a RawValue),
    /// `binary_data_size` bytes of the binary section.
    Binary(Bytes),
}

/// A request whose JSON header is read and checked, and whose decoded size
/// is known; no tensor data is decoded yet.
pub struct ParsedRequest<'a> {
    id: Option<String>,
    parameters: Parameters,
    outputs: Vec<RequestedOutput>,
    inputs: Vec<PlannedInput<'a>>,
    memory: usize,
}

/// Reads an infer request's JSON header. `header_len` is the value of the
/// `Inference-Header-Content-Length` header when the client used the binary
/// extension; the bytes after the JSON header are the tensors' binary data
/// (taken as slices of `body`).
pub fn parse_request(
    body: &Bytes,
    header_len: Option<usize>,
) -> Result<ParsedRequest<'_>, ProtocolError> {
    let (json, binary) = match header_len {
        Some(n) if n > body.len() => {
            return Err(ProtocolError::Binary(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            )));
        }
        Some(n) => (&body[..n], body.slice(n..)),
        None => (&body[..], Bytes::new()),
    };
    let wire: WireRequest<'_> =
        serde_json::from_slice(json).map_err(|e| ProtocolError::Json(e.to_string()))?;
    if wire.id.as_ref().is_some_and(|id| id.len() > MAX_ID) {
        return Err(ProtocolError::Json(format!(
            "the request id is longer than {MAX_ID} bytes"
        )));
    }
    let mut binary = binary;
    let mut inputs = Vec::with_capacity(wire.inputs.0.len());
    let mut memory = 0usize;
    for (index, input) in wire.inputs.0.into_iter().enumerate() {
        let planned = plan_input(index, input, &mut binary)?;
        memory = memory.saturating_add(planned.memory());
        inputs.push(planned);
    }
    if !binary.is_empty() {
        return Err(ProtocolError::Binary(format!(
            "{} bytes of binary data left over after the last input's binary_data_size",
            binary.len()
        )));
    }
    let parameters = wire.parameters.map(|p| p.0).unwrap_or_default();
    memory = memory.saturating_add(params_memory(&parameters));
    let outputs = wire
        .outputs
        .0
        .into_iter()
        .map(|o| {
            let params = o.parameters.map(|p| p.0).unwrap_or_default();
            memory = memory.saturating_add(64 + o.name.len() + params_memory(&params));
            RequestedOutput {
                name: o.name,
                binary: param_bool(&params, "binary_data"),
            }
        })
        .collect();
    Ok(ParsedRequest {
        id: wire.id,
        parameters,
        outputs,
        inputs,
        memory,
    })
}

/// Decodes an infer request body in one step (see [`parse_request`]).
pub fn decode_request(
    body: &Bytes,
    header_len: Option<usize>,
) -> Result<InferenceRequest, ProtocolError> {
    parse_request(body, header_len)?.decode()
}

impl ParsedRequest<'_> {
    /// Bytes of memory the decoded request will take: its tensor data on
    /// the host (none for binary data, which stays in the body) and the
    /// copy the model is handed, BYTES elements counted with their
    /// per-element overhead. Bounded by a small multiple of the body's size
    /// however the header lies about shapes.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Decodes every input's data.
    pub fn decode(self) -> Result<InferenceRequest, ProtocolError> {
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for input in self.inputs {
            let bad = |reason: String| ProtocolError::Input {
                input: input.name.clone(),
                reason,
            };
            let data = match input.source {
                Source::Json(raw) => {
                    decode_json_data(input.datatype, &input.shape, input.count, raw)
                }
                Source::Binary(bytes) => decode_binary(input.datatype, input.count, bytes),
            }
            .map_err(bad)?;
            inputs.push(Tensor {
                name: input.name,
                datatype: input.datatype,
                shape: input.shape,
                data,
            });
        }
        let binary_output = param_bool(&self.parameters, "binary_data_output").unwrap_or(false);
        Ok(InferenceRequest {
            id: self.id,
            parameters: self.parameters,
            inputs,
            outputs: self.outputs,
            binary_output,
        })
    }
}

impl PlannedInput<'_> {
    /// What this input's decoded data and its copy for the model take.
    /// Elements are counted from the data actually sent, not from a shape
    /// the client may inflate (a mismatch fails decoding anyway).
    fn memory(&self) -> usize {
        self.header.saturating_add(self.data_memory())
    }

    fn data_memory(&self) -> usize {
        match (&self.source, self.datatype.element_size()) {
            // Stays in the body; the model's copy is a plain buffer.
            (Source::Binary(b), Some(_)) => b.len(),
            // Stays in the body too (spans into it); every element needs at
            // least 4 bytes (its length).
            (Source::Binary(b), None) => {
                let elements = self.count.min(b.len() / 4);
                b.len()
                    .saturating_add(elements.saturating_mul(BYTES_ELEMENT_COST))
            }
            // Every JSON element needs at least 2 bytes ("0," or "\"\"").
            (Source::Json(raw), size) => {
                let text = raw.get().len();
                let elements = self.count.min(text / 2 + 1);
                match size {
                    Some(size) => elements.saturating_mul(size).saturating_mul(2),
                    None => (2 * text).saturating_add(elements.saturating_mul(BYTES_ELEMENT_COST)),
                }
            }
        }
    }
}

fn plan_input<'a>(
    index: usize,
    input: WireInput<'a>,
    binary: &mut Bytes,
) -> Result<PlannedInput<'a>, ProtocolError> {
    const FIELDS: &str = "every input needs \"name\", \"shape\", \"datatype\" and \"data\"";
    let name = input.name.ok_or_else(|| {
        ProtocolError::Json(format!("input {index} (from 0) has no \"name\"; {FIELDS}"))
    })?;
    let bad = |reason: String| ProtocolError::Input {
        input: name.clone(),
        reason,
    };
    let Some(datatype) = input.datatype else {
        return Err(bad(format!(
            "no \"datatype\"; {FIELDS} (the datatypes are {})",
            crate::tensor::DataType::ALL
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let datatype = DataType::parse(&datatype).ok_or_else(|| ProtocolError::Datatype {
        input: name.clone(),
        datatype,
    })?;
    let Some(super::wire::Shape(shape)) = input.shape else {
        return Err(bad(format!(
            "no \"shape\" (its dimensions, such as [1, 4]); {FIELDS}"
        )));
    };
    let count = element_count(&shape).ok_or_else(|| {
        bad(format!(
            "shape {shape:?} has a negative dimension or is too large"
        ))
    })?;
    let params = input.parameters.map(|p| p.0).unwrap_or_default();
    let header = 128 + name.len() + 8 * shape.len() + params_memory(&params);
    let binary_size = match params.iter().find(|(k, _)| k == "binary_data_size") {
        None => None,
        Some((_, ParamValue::Int(n))) if *n >= 0 => Some(*n as usize),
        Some(_) => return Err(bad("binary_data_size must be a non-negative integer".into())),
    };
    let source = match (binary_size, input.data) {
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
            Source::Binary(binary.split_to(size))
        }
        (None, Some(raw)) => Source::Json(raw),
    };
    Ok(PlannedInput {
        name,
        datatype,
        shape,
        count,
        source,
        header,
    })
}

/// Binary tensor data: raw little-endian elements (kept as the slice of the
/// body they arrived in), or for BYTES a 4-byte little-endian length before
/// each element. The REST binary extension and gRPC's `raw_input_contents`
/// share this layout.
pub fn decode_binary(datatype: DataType, count: usize, bytes: Bytes) -> Result<TensorData, String> {
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
            Ok(TensorData::Raw(bytes))
        }
        None => {
            // Each element stays where it arrived; only its span is kept.
            let mut spans = Vec::with_capacity(count.min(bytes.len() / 4));
            let mut at = 0usize;
            while at < bytes.len() {
                let Some(len) = bytes.get(at..at + 4) else {
                    return Err("truncated BYTES element length".into());
                };
                let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
                let start = at + 4;
                if len > bytes.len() - start {
                    return Err(format!(
                        "BYTES element of {len} bytes overruns the binary data"
                    ));
                }
                spans.push((start, start + len));
                at = start + len;
            }
            if spans.len() != count {
                return Err(format!(
                    "shape needs {count} BYTES elements but the binary data holds {}",
                    spans.len()
                ));
            }
            Strings::from_spans(bytes, spans)
                .map(TensorData::Strings)
                .ok_or_else(|| "BYTES element spans out of range".to_string())
        }
    }
}

fn decode_json_data(
    datatype: DataType,
    shape: &[i64],
    count: usize,
    raw: &RawValue,
) -> Result<TensorData, String> {
    // Room for what the text can hold (every element takes at least two
    // bytes of it), never for what the shape merely claims.
    let mut sink = Sink::new(datatype, count.min(raw.get().len() / 2 + 1));
    let mut de = serde_json::Deserializer::from_str(raw.get());
    if let Err(e) = (FlatSeed { sink: &mut sink }).deserialize(&mut de) {
        // A position inside the data array means nothing to the client
        // (it counts from the array, not from the body): the element's
        // index does.
        let at = element_position(sink.count, shape, count);
        return Err(match sink.failure.take() {
            Some(why) => format!("data {at}: {why}"),
            None => format!("data {at}: {}", without_position(&e)),
        });
    }
    if sink.count != count {
        return Err(format!(
            "shape {shape:?} needs {count} elements but data has {}",
            sink.count
        ));
    }
    Ok(sink.finish())
}

/// Where element `index` of the flattened data sits: its index, and its
/// coordinates in the shape when there is more than one dimension.
fn element_position(index: usize, shape: &[i64], count: usize) -> String {
    if shape.len() < 2 || index >= count {
        return format!("element {index} (from 0)");
    }
    let mut rest = index;
    let mut coords = vec![0usize; shape.len()];
    for (c, &d) in coords.iter_mut().zip(shape).rev() {
        let d = usize::try_from(d).unwrap_or(1).max(1);
        *c = rest % d;
        rest /= d;
    }
    format!("element {index} (from 0; at {coords:?} in shape {shape:?})")
}

/// A serde error's message without its " at line L column C" suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_string(),
        _ => text,
    }
}

/// Collects flattened elements of one datatype.
struct Sink {
    datatype: DataType,
    count: usize,
    /// Why the element at `count` was refused.
    failure: Option<String>,
    raw: Vec<u8>,
    strings: StringsBuilder,
}

impl Sink {
    fn new(datatype: DataType, room: usize) -> Self {
        let cap = room.min(1 << 20);
        match datatype.element_size() {
            Some(size) => Sink {
                datatype,
                count: 0,
                failure: None,
                raw: Vec::with_capacity(cap * size),
                strings: StringsBuilder::default(),
            },
            None => Sink {
                datatype,
                count: 0,
                failure: None,
                raw: Vec::new(),
                strings: StringsBuilder::with_capacity(cap, 0),
            },
        }
    }

    fn finish(self) -> TensorData {
        match self.datatype {
            DataType::Bytes => TensorData::Strings(self.strings.finish()),
            _ => TensorData::Raw(Bytes::from(self.raw)),
        }
    }

    fn mismatch(&self, got: &str) -> String {
        format!("a {got} is not a valid {} element", self.datatype)
    }

    /// Records why the current element is refused, for the message.
    fn fail<E: serde::de::Error>(&mut self, why: String) -> E {
        let e = E::custom(&why);
        self.failure = Some(why);
        e
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
            let why = self.sink.mismatch("boolean");
            return Err(self.sink.fail(why));
        }
        self.sink.raw.push(v as u8);
        self.sink.count += 1;
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.sink
            .push_i128(v as i128)
            .map_err(|why| self.sink.fail(why))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.sink
            .push_i128(v as i128)
            .map_err(|why| self.sink.fail(why))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.sink.push_f64(v).map_err(|why| self.sink.fail(why))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        let why = self.sink.mismatch("null");
        Err(self.sink.fail(why))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        let why = self.sink.mismatch("JSON object");
        Err(self.sink.fail(why))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        if self.sink.datatype != DataType::Bytes {
            let why = self.sink.mismatch("string");
            return Err(self.sink.fail(why));
        }
        self.sink.strings.push(v.as_bytes());
        self.sink.count += 1;
        Ok(())
    }
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
            let req = decode_request(&Bytes::from(body), None).unwrap();
            assert_eq!(f32s(&req.inputs[0].data), vec![1.0, 2.5, 3.0, 4.0]);
        }
    }

    #[test]
    fn decodes_bytes_and_outputs() {
        let body = r#"{"id":"r1","inputs":[{"name":"t","shape":[2],"datatype":"BYTES","data":["hi","yo"]}],
            "outputs":[{"name":"label","parameters":{"binary_data":true}}],
            "parameters":{"binary_data_output":false}}"#;
        let req = decode_request(&Bytes::from(body), None).unwrap();
        assert_eq!(req.id.as_deref(), Some("r1"));
        assert_eq!(
            req.inputs[0].data,
            TensorData::Strings(["hi", "yo"].iter().collect())
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
                "input 'x': unknown datatype 'FP33'; the datatypes are BOOL, UINT8, UINT16, \
                 UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"fp32","data":[1]}]}"#,
                "input 'x': unknown datatype 'fp32'; did you mean 'FP32'? Datatype names are \
                 upper case: BOOL,",
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
                r#"{"inputs":[{"name":"x","datatype":"FP32","data":[1]}]}"#,
                "input 'x': no \"shape\" (its dimensions, such as [1, 4])",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"data":[1]}]}"#,
                "input 'x': no \"datatype\"; every input needs",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"shape":[1]}]}"#,
                "input 1 (from 0) has no \"name\"",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,"5",6]]}]}"#,
                "input 'x': data element 4 (from 0; at [1, 1] in shape [2, 3]): a string is not \
                 a valid FP32 element",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[3],"datatype":"INT8","data":[1, null, 3]}]}"#,
                "input 'x': data element 1 (from 0): a null is not a valid INT8 element",
            ),
            (
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]}"#,
                "1.5",
            ),
        ];
        for (body, want) in cases {
            let err = decode_request(&Bytes::from(body), None)
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
        let body = Bytes::from(body);
        let req = decode_request(&body, Some(header.len())).unwrap();
        assert_eq!(f32s(&req.inputs[0].data), vec![1.5, -2.0]);
        assert_eq!(
            req.inputs[1].data,
            TensorData::Strings(["hi", "y"].iter().collect())
        );

        // One byte too many, too few, and a header length past the end.
        let mut extra = body.to_vec();
        extra.push(0);
        assert!(decode_request(&extra.into(), Some(header.len())).is_err());
        assert!(decode_request(&body.slice(..body.len() - 1), Some(header.len())).is_err());
        assert!(decode_request(&body, Some(body.len() + 1)).is_err());
    }

    #[test]
    fn binary_tensors_are_slices_of_the_body() {
        let header = r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#;
        let mut body = header.as_bytes().to_vec();
        body.extend(1.5f32.to_le_bytes());
        body.extend(2.5f32.to_le_bytes());
        let body = Bytes::from(body);
        let req = decode_request(&body, Some(header.len())).unwrap();
        let TensorData::Raw(data) = &req.inputs[0].data else {
            panic!("raw")
        };
        assert_eq!(data.as_ptr(), body[header.len()..].as_ptr(), "no copy");
    }

    #[test]
    fn memory_is_known_before_decoding_and_bounded_by_the_body() {
        // 1M BYTES elements of one byte each: what they will take is
        // counted (with their per-element cost) before any is decoded.
        let n = 1usize << 20;
        let header = format!(
            r#"{{"inputs":[{{"name":"s","shape":[{n}],"datatype":"BYTES","parameters":{{"binary_data_size":{}}}}}]}}"#,
            5 * n
        );
        let mut body = header.as_bytes().to_vec();
        for _ in 0..n {
            body.extend(1u32.to_le_bytes());
            body.push(b'a');
        }
        let body = Bytes::from(body);
        let parsed = parse_request(&body, Some(header.len())).unwrap();
        assert!(
            parsed.memory() >= n * BYTES_ELEMENT_COST,
            "{}",
            parsed.memory()
        );
        let TensorData::Strings(s) = &parsed.decode().unwrap().inputs[0].data else {
            panic!("strings")
        };
        assert_eq!(s.len(), n);
        assert_eq!(s.index_memory(), 16 * n, "one span per element, no copy");
        assert_eq!(s.get(n - 1), Some(&b"a"[..]));
        // A shape that claims far more elements than the data holds does
        // not inflate the estimate past the body's size.
        let lie =
            r#"{"inputs":[{"name":"x","shape":[1000000000000],"datatype":"FP64","data":[1,2]}]}"#;
        let lie = Bytes::from(lie);
        let parsed = parse_request(&lie, None).unwrap();
        assert!(parsed.memory() <= 16 * lie.len(), "{}", parsed.memory());
        assert!(parsed.decode().is_err());
    }

    #[test]
    fn refuses_long_ids_and_deep_shapes() {
        let id = "i".repeat(2000);
        let body = format!(r#"{{"id":"{id}","inputs":[]}}"#);
        assert!(decode_request(&Bytes::from(body), None).is_err());
        let shape = vec!["1"; 65].join(",");
        let body = format!(
            r#"{{"inputs":[{{"name":"x","shape":[{shape}],"datatype":"FP32","data":[1]}}]}}"#
        );
        let err = decode_request(&Bytes::from(body), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dimensions"), "{err}");
    }
}

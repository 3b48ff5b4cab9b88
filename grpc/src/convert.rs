//! gRPC messages to and from edgeserve's OIP types.
//!
//! Inputs arrive either as typed `contents` (`fp32_contents`, …) or, as
//! `tritonclient.grpc` always sends them, as `raw_input_contents` (one
//! entry per input, the binary layout of the REST extension, kept as the
//! slice of the message it arrived in). Outputs go back as
//! `raw_output_contents`, which `tritonclient` reads.

use bytes::Bytes;
use edgeserve_oip::protocol::{decode_binary, write_binary};
use edgeserve_oip::tensor::{
    DataType, InferenceRequest, InferenceResponse, ModelMetadata, ParamValue, Parameters,
    RequestedOutput, Strings, Tensor, TensorData, TensorSpec, element_count,
};

use crate::proto::infer_parameter::ParameterChoice;
use crate::proto::model_infer_request::InferInputTensor;
use crate::proto::model_infer_response::InferOutputTensor;
use crate::proto::model_metadata_response::TensorMetadata;
use crate::proto::{
    InferParameter, InferTensorContents, ModelConfig, ModelInferRequest, ModelInferResponse,
    ModelInput, ModelMetadataResponse, ModelOutput,
};

/// A request that cannot be read (INVALID_ARGUMENT), with the REST
/// front-end's wording where the mistake is the same.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConvertError(pub String);

fn bad(message: impl Into<String>) -> ConvertError {
    ConvertError(message.into())
}

/// The model and version a request names (an empty version: the one
/// routing chooses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The model.
    pub model: String,
    /// The version, when pinned.
    pub version: Option<String>,
}

/// Reads a `ModelInferRequest` into the pipeline's request.
pub fn request_from_proto(
    req: ModelInferRequest,
) -> Result<(Target, InferenceRequest), ConvertError> {
    let target = Target {
        model: req.model_name,
        version: Some(req.model_version).filter(|v| !v.is_empty()),
    };
    let raw = req.raw_input_contents;
    if !raw.is_empty() && raw.len() != req.inputs.len() {
        return Err(bad(format!(
            "raw_input_contents has {} entries for {} inputs: give one per input, in order",
            raw.len(),
            req.inputs.len()
        )));
    }
    let mut raw = raw.into_iter();
    let mut inputs = Vec::with_capacity(req.inputs.len());
    for input in req.inputs {
        inputs.push(input_tensor(input, raw.next())?);
    }
    let outputs = req
        .outputs
        .into_iter()
        .map(|o| RequestedOutput {
            name: o.name,
            binary: None,
        })
        .collect();
    Ok((
        target,
        InferenceRequest {
            id: Some(req.id).filter(|id| !id.is_empty()),
            parameters: parameters(req.parameters)?,
            inputs,
            outputs,
            binary_output: false,
        },
    ))
}

fn input_tensor(input: InferInputTensor, raw: Option<Bytes>) -> Result<Tensor, ConvertError> {
    let name = input.name;
    let named = |m: String| bad(format!("input '{name}': {m}"));
    let datatype = DataType::parse(&input.datatype).ok_or_else(|| {
        let valid: Vec<&str> = DataType::ALL.iter().map(|d| d.as_str()).collect();
        named(format!(
            "unknown datatype '{}'; valid: {}",
            input.datatype,
            valid.join(", ")
        ))
    })?;
    let count = element_count(&input.shape)
        .ok_or_else(|| named(format!("shape {:?} is not a concrete shape", input.shape)))?;
    let data = match (raw, input.contents) {
        (Some(_), Some(c)) if !contents_empty(&c) => {
            return Err(named(
                "has both contents and raw_input_contents: give one".into(),
            ));
        }
        (Some(bytes), _) => decode_binary(datatype, count, bytes).map_err(named)?,
        (None, Some(c)) => typed(datatype, count, c).map_err(named)?,
        (None, None) if count == 0 => {
            typed(datatype, 0, InferTensorContents::default()).map_err(named)?
        }
        (None, None) => return Err(named("has no data (contents or raw_input_contents)".into())),
    };
    Ok(Tensor {
        name,
        datatype,
        shape: input.shape,
        data,
    })
}

fn contents_empty(c: &InferTensorContents) -> bool {
    c.bool_contents.is_empty()
        && c.int_contents.is_empty()
        && c.int64_contents.is_empty()
        && c.uint_contents.is_empty()
        && c.uint64_contents.is_empty()
        && c.fp32_contents.is_empty()
        && c.fp64_contents.is_empty()
        && c.bytes_contents.is_empty()
}

/// Typed contents as little-endian bytes, each value checked against its
/// datatype's range.
fn typed(datatype: DataType, count: usize, c: InferTensorContents) -> Result<TensorData, String> {
    fn le<T: Copy, const N: usize>(
        values: &[T],
        count: usize,
        field: &str,
        to: impl Fn(T) -> Option<[u8; N]>,
    ) -> Result<TensorData, String> {
        if values.len() != count {
            return Err(format!(
                "shape needs {count} elements but {field} has {}",
                values.len()
            ));
        }
        let mut out = Vec::with_capacity(count * N);
        for (i, &v) in values.iter().enumerate() {
            let bytes = to(v).ok_or_else(|| format!("{field}[{i}] is out of range"))?;
            out.extend_from_slice(&bytes);
        }
        Ok(TensorData::Raw(Bytes::from(out)))
    }
    match datatype {
        DataType::Bool => le(&c.bool_contents, count, "bool_contents", |v| {
            Some([u8::from(v)])
        }),
        DataType::I8 => le(&c.int_contents, count, "int_contents", |v| {
            i8::try_from(v).ok().map(i8::to_le_bytes)
        }),
        DataType::I16 => le(&c.int_contents, count, "int_contents", |v| {
            i16::try_from(v).ok().map(i16::to_le_bytes)
        }),
        DataType::I32 => le(&c.int_contents, count, "int_contents", |v| {
            Some(v.to_le_bytes())
        }),
        DataType::I64 => le(&c.int64_contents, count, "int64_contents", |v| {
            Some(v.to_le_bytes())
        }),
        DataType::U8 => le(&c.uint_contents, count, "uint_contents", |v| {
            u8::try_from(v).ok().map(u8::to_le_bytes)
        }),
        DataType::U16 => le(&c.uint_contents, count, "uint_contents", |v| {
            u16::try_from(v).ok().map(u16::to_le_bytes)
        }),
        DataType::U32 => le(&c.uint_contents, count, "uint_contents", |v| {
            Some(v.to_le_bytes())
        }),
        DataType::U64 => le(&c.uint64_contents, count, "uint64_contents", |v| {
            Some(v.to_le_bytes())
        }),
        DataType::F32 => le(&c.fp32_contents, count, "fp32_contents", |v| {
            Some(v.to_le_bytes())
        }),
        DataType::F64 => le(&c.fp64_contents, count, "fp64_contents", |v| {
            Some(v.to_le_bytes())
        }),
        DataType::F16 => Err(format!(
            "{datatype} has no typed contents field: send it in raw_input_contents"
        )),
        DataType::Bytes => {
            if c.bytes_contents.len() != count {
                return Err(format!(
                    "shape needs {count} elements but bytes_contents has {}",
                    c.bytes_contents.len()
                ));
            }
            Ok(TensorData::Strings(
                c.bytes_contents.iter().collect::<Strings>(),
            ))
        }
    }
}

fn parameters(
    map: impl IntoIterator<Item = (String, InferParameter)>,
) -> Result<Parameters, ConvertError> {
    let mut out: Parameters = map
        .into_iter()
        .map(|(k, p)| {
            let v = match p.parameter_choice {
                Some(ParameterChoice::BoolParam(b)) => ParamValue::Bool(b),
                Some(ParameterChoice::Int64Param(i)) => ParamValue::Int(i),
                Some(ParameterChoice::StringParam(s)) => ParamValue::Text(s),
                Some(ParameterChoice::DoubleParam(d)) => ParamValue::Float(d),
                Some(ParameterChoice::Uint64Param(u)) => ParamValue::Int(
                    i64::try_from(u)
                        .map_err(|_| bad(format!("parameter '{k}' is out of range")))?,
                ),
                None => return Err(bad(format!("parameter '{k}' has no value"))),
            };
            Ok((k, v))
        })
        .collect::<Result<_, _>>()?;
    // A map has no order: sorted, so the pipeline sees the same request
    // every time.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn parameter(v: &ParamValue) -> InferParameter {
    InferParameter {
        parameter_choice: Some(match v {
            ParamValue::Bool(b) => ParameterChoice::BoolParam(*b),
            ParamValue::Int(i) => ParameterChoice::Int64Param(*i),
            ParamValue::Text(s) => ParameterChoice::StringParam(s.clone()),
            ParamValue::Float(f) => ParameterChoice::DoubleParam(*f),
        }),
    }
}

/// The answer as a `ModelInferResponse`, every output's data in
/// `raw_output_contents` (a fixed-size tensor's bytes are shared, not
/// copied).
pub fn response_to_proto(
    model: &str,
    version: &str,
    id: Option<&str>,
    response: &InferenceResponse,
) -> ModelInferResponse {
    let mut outputs = Vec::with_capacity(response.outputs.len());
    let mut raw = Vec::with_capacity(response.outputs.len());
    for t in &response.outputs {
        outputs.push(InferOutputTensor {
            name: t.name.clone(),
            datatype: t.datatype.as_str().to_string(),
            shape: t.shape.clone(),
            parameters: Default::default(),
            contents: None,
        });
        raw.push(match &t.data {
            TensorData::Raw(bytes) => bytes.clone(),
            strings => {
                let mut out = Vec::with_capacity(strings.byte_len());
                write_binary(&mut out, strings);
                Bytes::from(out)
            }
        });
    }
    ModelInferResponse {
        model_name: model.to_string(),
        model_version: version.to_string(),
        id: id.unwrap_or_default().to_string(),
        parameters: response
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), parameter(v)))
            .collect(),
        outputs,
        raw_output_contents: raw,
    }
}

/// A model's metadata as a `ModelMetadataResponse`.
pub fn metadata_to_proto(
    name: &str,
    versions: &[String],
    meta: &ModelMetadata,
) -> ModelMetadataResponse {
    let specs = |specs: &[TensorSpec]| {
        specs
            .iter()
            .map(|s| TensorMetadata {
                name: s.name.clone(),
                datatype: s.datatype.as_str().to_string(),
                shape: s.shape.clone(),
            })
            .collect()
    };
    ModelMetadataResponse {
        name: name.to_string(),
        versions: versions.to_vec(),
        platform: meta.platform.clone(),
        inputs: specs(&meta.inputs),
        outputs: specs(&meta.outputs),
    }
}

/// A datatype as Triton's model configuration names it.
fn config_type(d: DataType) -> crate::proto::DataType {
    use crate::proto::DataType as T;
    match d {
        DataType::Bool => T::TypeBool,
        DataType::U8 => T::TypeUint8,
        DataType::U16 => T::TypeUint16,
        DataType::U32 => T::TypeUint32,
        DataType::U64 => T::TypeUint64,
        DataType::I8 => T::TypeInt8,
        DataType::I16 => T::TypeInt16,
        DataType::I32 => T::TypeInt32,
        DataType::I64 => T::TypeInt64,
        DataType::F16 => T::TypeFp16,
        DataType::F32 => T::TypeFp32,
        DataType::F64 => T::TypeFp64,
        DataType::Bytes => T::TypeString,
    }
}

/// A model's metadata as Triton's `ModelConfig`: name, platform, inputs
/// and outputs with their full shapes (`max_batch_size` 0: a shape's
/// first dimension, `-1` when the model batches, is part of `dims`, as
/// Triton writes it for models that do their own batching).
pub fn config_to_proto(name: &str, meta: &ModelMetadata) -> ModelConfig {
    let parts = |s: &TensorSpec| {
        (
            s.name.clone(),
            config_type(s.datatype) as i32,
            s.shape.clone(),
        )
    };
    ModelConfig {
        name: name.to_string(),
        platform: meta.platform.clone(),
        max_batch_size: 0,
        input: meta
            .inputs
            .iter()
            .map(parts)
            .map(|(name, data_type, dims)| ModelInput {
                name,
                data_type,
                dims,
            })
            .collect(),
        output: meta
            .outputs
            .iter()
            .map(parts)
            .map(|(name, data_type, dims)| ModelOutput {
                name,
                data_type,
                dims,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;

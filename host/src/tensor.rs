//! Host-side inference values: what the protocol codec produces and the
//! runtime consumes. Nothing here knows about JSON or WIT.

use std::fmt;

/// Element type of a tensor (the Open Inference Protocol set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOL`, one byte per element.
    Bool,
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `UINT64`.
    U64,
    /// `INT8`.
    I8,
    /// `INT16`.
    I16,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP16`, IEEE half precision.
    F16,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
    /// `BYTES`, variable-length byte strings.
    Bytes,
}

impl DataType {
    /// All datatypes, in protocol order.
    pub const ALL: [DataType; 13] = [
        DataType::Bool,
        DataType::U8,
        DataType::U16,
        DataType::U32,
        DataType::U64,
        DataType::I8,
        DataType::I16,
        DataType::I32,
        DataType::I64,
        DataType::F16,
        DataType::F32,
        DataType::F64,
        DataType::Bytes,
    ];

    /// The protocol name, e.g. `FP32`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::U8 => "UINT8",
            DataType::U16 => "UINT16",
            DataType::U32 => "UINT32",
            DataType::U64 => "UINT64",
            DataType::I8 => "INT8",
            DataType::I16 => "INT16",
            DataType::I32 => "INT32",
            DataType::I64 => "INT64",
            DataType::F16 => "FP16",
            DataType::F32 => "FP32",
            DataType::F64 => "FP64",
            DataType::Bytes => "BYTES",
        }
    }

    /// Parses a protocol name (exact, upper case).
    pub fn parse(name: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// Size of one element in bytes; `None` for `BYTES`.
    pub fn element_size(self) -> Option<usize> {
        match self {
            DataType::Bool | DataType::U8 | DataType::I8 => Some(1),
            DataType::U16 | DataType::I16 | DataType::F16 => Some(2),
            DataType::U32 | DataType::I32 | DataType::F32 => Some(4),
            DataType::U64 | DataType::I64 | DataType::F64 => Some(8),
            DataType::Bytes => None,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tensor contents.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Fixed-size elements, little-endian, row-major.
    Raw(Vec<u8>),
    /// One byte string per element (`BYTES`).
    Strings(Vec<Vec<u8>>),
}

impl TensorData {
    /// Approximate payload size in bytes.
    pub fn byte_len(&self) -> usize {
        match self {
            TensorData::Raw(b) => b.len(),
            TensorData::Strings(s) => s.iter().map(|e| e.len() + 4).sum(),
        }
    }
}

/// A named, typed, shaped tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub datatype: DataType,
    /// Dimensions; all non-negative for a concrete tensor.
    pub shape: Vec<i64>,
    /// Contents.
    pub data: TensorData,
}

impl Tensor {
    /// The number of elements that `shape` describes, or `None` when a
    /// dimension is negative or the product overflows.
    pub fn element_count(&self) -> Option<usize> {
        element_count(&self.shape)
    }
}

/// The number of elements of a concrete shape, or `None` if a dimension is
/// negative or the product overflows `usize`.
pub fn element_count(shape: &[i64]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        let d = usize::try_from(d).ok()?;
        acc.checked_mul(d)
    })
}

/// A parameter value (OIP `parameters` object entry).
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// A string.
    Text(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

/// Named parameters, in the order they were given.
pub type Parameters = Vec<(String, ParamValue)>;

/// Declared name, datatype and shape of a model input or output; `-1` in a
/// shape matches any size.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub datatype: DataType,
    /// Dimensions, `-1` for any.
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// Whether a concrete shape fits this spec.
    pub fn shape_matches(&self, shape: &[i64]) -> bool {
        self.shape.len() == shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(&want, &got)| want < 0 || want == got)
    }
}

/// What a model says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMetadata {
    /// Name the model reports.
    pub name: String,
    /// Version the model reports.
    pub version: String,
    /// Platform tag, e.g. `rust`.
    pub platform: String,
    /// Declared inputs.
    pub inputs: Vec<TensorSpec>,
    /// Declared outputs.
    pub outputs: Vec<TensorSpec>,
}

/// An output the client asked for, and how it wants it encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestedOutput {
    /// Output name.
    pub name: String,
    /// Whether to return it with the binary tensor data extension.
    pub binary: Option<bool>,
}

/// One decoded inference request.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InferenceRequest {
    /// Client-supplied id, echoed back.
    pub id: Option<String>,
    /// Request parameters.
    pub parameters: Parameters,
    /// Input tensors.
    pub inputs: Vec<Tensor>,
    /// Requested outputs; empty means all.
    pub outputs: Vec<RequestedOutput>,
    /// Request-level `binary_data_output`: return every output in binary.
    pub binary_output: bool,
}

/// One model answer.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InferenceResponse {
    /// Response parameters.
    pub parameters: Parameters,
    /// Output tensors.
    pub outputs: Vec<Tensor>,
}

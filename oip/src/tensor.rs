//! Host-side inference values: what the protocol codec produces and the
//! runtime consumes. Nothing here knows about JSON or WIT.

use std::fmt;

use bytes::Bytes;

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
    /// Fixed-size elements, little-endian, row-major. Often a slice of the
    /// request body it arrived in (binary tensor data is not copied).
    Raw(Bytes),
    /// One byte string per element (`BYTES`), stored flat.
    Strings(Strings),
}

impl TensorData {
    /// Payload size in bytes as the binary extension writes it (BYTES
    /// elements with their 4-byte lengths).
    pub fn byte_len(&self) -> usize {
        match self {
            TensorData::Raw(b) => b.len(),
            TensorData::Strings(s) => s.total_bytes() + 4 * s.len(),
        }
    }

    /// The data in the binary layout (raw little-endian elements; BYTES
    /// each after its 4-byte length), when it is already laid out that way
    /// (raw data, or BYTES that arrived in binary); `write_binary` packs
    /// the rest.
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            TensorData::Raw(b) => Some(b),
            TensorData::Strings(s) => s.as_binary(),
        }
    }

    /// Host memory an owned copy of the data takes (BYTES with their
    /// spans).
    pub fn memory(&self) -> usize {
        match self {
            TensorData::Raw(b) => b.len(),
            TensorData::Strings(s) => s.total_bytes() + s.index_memory(),
        }
    }
}

/// The elements of a `BYTES` tensor, flat: one buffer holding every
/// element (often the request body they arrived in, with their length
/// prefixes between them), and where each element starts and ends in it.
/// A million short strings are two allocations, not a million.
#[derive(Clone, Default)]
pub struct Strings {
    bytes: Bytes,
    spans: Vec<(usize, usize)>,
}

impl PartialEq for Strings {
    fn eq(&self, other: &Strings) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Strings {}

impl fmt::Debug for Strings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl Strings {
    /// No elements.
    pub fn new() -> Strings {
        Strings::default()
    }

    /// Elements at `spans` (start, end) of `bytes`; `None` unless every
    /// span lies within it.
    pub fn from_spans(bytes: Bytes, spans: Vec<(usize, usize)>) -> Option<Strings> {
        let fits = spans.iter().all(|&(s, e)| s <= e && e <= bytes.len());
        fits.then_some(Strings { bytes, spans })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Element `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let &(start, end) = self.spans.get(i)?;
        self.bytes.get(start..end)
    }

    /// The elements in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.spans
            .iter()
            .map(|&(s, e)| self.bytes.get(s..e).unwrap_or_default())
    }

    /// The elements in the binary layout (each after its 4-byte
    /// little-endian length), when the buffer already holds them that way
    /// (they arrived in the binary extension or gRPC's raw contents);
    /// `None` otherwise.
    pub fn as_binary(&self) -> Option<&[u8]> {
        let Some(&(first, _)) = self.spans.first() else {
            return Some(&[]);
        };
        let begin = first.checked_sub(4)?;
        let mut at = begin;
        for &(start, end) in &self.spans {
            if start != at.checked_add(4)? {
                return None;
            }
            let len: [u8; 4] = self.bytes.get(at..start)?.try_into().ok()?;
            if u32::from_le_bytes(len) as usize != end - start {
                return None;
            }
            at = end;
        }
        self.bytes.get(begin..at)
    }

    /// Bytes of all elements together.
    pub fn total_bytes(&self) -> usize {
        self.spans.iter().map(|&(s, e)| e - s).sum()
    }

    /// Host memory the element index takes (the buffer is often shared
    /// with the request body).
    pub fn index_memory(&self) -> usize {
        self.spans.len() * std::mem::size_of::<(usize, usize)>()
    }
}

impl<S: AsRef<[u8]>> FromIterator<S> for Strings {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> Strings {
        let mut b = StringsBuilder::default();
        for item in items {
            b.push(item.as_ref());
        }
        b.finish()
    }
}

/// Builds [`Strings`] one element at a time, copying each into one
/// buffer.
#[derive(Debug, Default)]
pub struct StringsBuilder {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl StringsBuilder {
    /// Room for `elements` elements of `bytes` bytes in all.
    pub fn with_capacity(elements: usize, bytes: usize) -> StringsBuilder {
        StringsBuilder {
            bytes: Vec::with_capacity(bytes),
            spans: Vec::with_capacity(elements),
        }
    }

    /// Appends one element.
    pub fn push(&mut self, element: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(element);
        self.spans.push((start, self.bytes.len()));
    }

    /// The number of elements so far.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no element was pushed.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The finished elements.
    pub fn finish(self) -> Strings {
        Strings {
            bytes: Bytes::from(self.bytes),
            spans: self.spans,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_bytes_are_borrowed_and_others_are_not() {
        let wire = Bytes::from_static(&[2, 0, 0, 0, b'h', b'i', 0, 0, 0, 0, 1, 0, 0, 0, b'x']);
        let arrived = crate::protocol::decode_binary(DataType::Bytes, 3, wire.clone()).unwrap();
        assert_eq!(
            arrived.as_binary(),
            Some(&wire[..]),
            "BYTES that arrived in binary are already laid out"
        );
        // Built from JSON: the same elements, without their lengths.
        let built = TensorData::Strings([&b"hi"[..], b"", b"x"].into_iter().collect());
        assert_eq!(built.as_binary(), None);
        let mut packed = Vec::new();
        crate::protocol::write_binary(&mut packed, &built);
        assert_eq!(packed, &wire[..]);
        // A sub-slice whose lengths do not match its spans is not either.
        let odd = Strings::from_spans(Bytes::from_static(&[9, 0, 0, 0, b'a', b'b']), vec![(4, 6)])
            .unwrap();
        assert_eq!(odd.as_binary(), None);
        assert_eq!(Strings::new().as_binary(), Some(&[][..]));
        let raw = TensorData::Raw(Bytes::from_static(&[1, 2]));
        assert_eq!(raw.as_binary(), Some(&[1, 2][..]));
    }
}

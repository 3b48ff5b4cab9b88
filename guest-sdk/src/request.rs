//! The request a model sees: typed views of its input tensors.

use crate::bindings::edgeserve::ml::types as wit;
use crate::{DataType, Element, Error};

/// A typed tensor: its shape and its elements in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T> {
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Elements, row-major.
    pub data: Vec<T>,
}

impl<T> Tensor<T> {
    /// The first dimension (the batch size), 1 for a scalar.
    pub fn batch(&self) -> usize {
        self.shape.first().map_or(1, |&d| d.max(0) as usize)
    }

    /// The rows along the first dimension.
    pub fn rows(&self) -> std::slice::Chunks<'_, T> {
        let row = self.shape.iter().skip(1).product::<i64>().max(1) as usize;
        self.data.chunks(row)
    }
}

/// One inference request.
#[derive(Debug)]
pub struct Request {
    id: String,
    inputs: Vec<wit::Tensor>,
    outputs: Vec<String>,
    parameters: Vec<wit::Parameter>,
}

/// Parameter values, as sent by the client.
pub use wit::ParamValue;

pub(crate) fn check_size(t: &wit::Tensor) -> Result<(), Error> {
    let count = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
        .ok_or_else(|| Error::invalid_input(format!("input '{}' has an invalid shape", t.name)))?;
    let ok = match (&t.data, element_size(t.datatype)) {
        (wit::TensorData::Raw(b), Some(size)) => Some(b.len()) == count.checked_mul(size),
        (wit::TensorData::Strings(s), None) => s.len() == count,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "input '{}': data does not fit shape {:?}",
            t.name, t.shape
        )))
    }
}

fn element_size(d: DataType) -> Option<usize> {
    match d {
        DataType::Boolean | DataType::Uint8 | DataType::Int8 => Some(1),
        DataType::Uint16 | DataType::Int16 | DataType::Fp16 => Some(2),
        DataType::Uint32 | DataType::Int32 | DataType::Fp32 => Some(4),
        DataType::Uint64 | DataType::Int64 | DataType::Fp64 => Some(8),
        DataType::Bytes => None,
    }
}

impl Request {
    pub(crate) fn from_wit(r: wit::InferenceRequest) -> Request {
        Request {
            id: r.id,
            inputs: r.inputs,
            outputs: r.outputs,
            parameters: r.parameters,
        }
    }

    /// The request id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn input(&self, name: &str) -> Result<&wit::Tensor, Error> {
        self.inputs
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::invalid_input(format!("missing input '{name}'")))
    }

    /// The input `name` as typed elements.
    pub fn tensor<T: Element>(&self, name: &str) -> Result<Tensor<T>, Error> {
        let t = self.input(name)?;
        if t.datatype != T::DATATYPE {
            return Err(Error::invalid_input(format!(
                "input '{name}' is {:?}, not {:?}",
                t.datatype,
                T::DATATYPE
            )));
        }
        match &t.data {
            wit::TensorData::Raw(bytes) => Ok(Tensor {
                shape: t.shape.clone(),
                data: bytes.chunks_exact(T::SIZE).map(T::read).collect(),
            }),
            wit::TensorData::Strings(_) => Err(Error::invalid_input(format!(
                "input '{name}' holds strings"
            ))),
        }
    }

    /// The BYTES input `name` as byte strings.
    pub fn bytes(&self, name: &str) -> Result<Tensor<Vec<u8>>, Error> {
        let t = self.input(name)?;
        match &t.data {
            wit::TensorData::Strings(s) => Ok(Tensor {
                shape: t.shape.clone(),
                data: s.clone(),
            }),
            wit::TensorData::Raw(_) => Err(Error::invalid_input(format!(
                "input '{name}' is {:?}, not BYTES",
                t.datatype
            ))),
        }
    }

    /// The BYTES input `name` as text (invalid UTF-8 is replaced).
    pub fn strings(&self, name: &str) -> Result<Tensor<String>, Error> {
        let t = self.bytes(name)?;
        Ok(Tensor {
            shape: t.shape,
            data: t
                .data
                .into_iter()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect(),
        })
    }

    /// Whether the client wants output `name` (true when it named none).
    pub fn wants(&self, name: &str) -> bool {
        self.outputs.is_empty() || self.outputs.iter().any(|o| o == name)
    }

    /// A request parameter.
    pub fn parameter(&self, name: &str) -> Option<&ParamValue> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }
}

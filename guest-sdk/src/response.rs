//! The answer a model builds.

use crate::bindings::edgeserve::ml::types as wit;
use crate::{DataType, Element};

/// A model's answer: output tensors, added one by one.
#[derive(Debug, Default)]
pub struct Response {
    outputs: Vec<wit::Tensor>,
    parameters: Vec<wit::Parameter>,
}

impl Response {
    /// An empty response.
    pub fn new() -> Response {
        Response::default()
    }

    /// Adds a fixed-size output tensor.
    pub fn tensor<T: Element>(mut self, name: &str, shape: Vec<i64>, data: Vec<T>) -> Self {
        let mut bytes = Vec::with_capacity(data.len() * T::SIZE);
        for v in data {
            v.write(&mut bytes);
        }
        self.outputs.push(wit::Tensor {
            name: name.to_string(),
            datatype: T::DATATYPE,
            shape,
            data: wit::TensorData::Raw(bytes),
        });
        self
    }

    /// Adds a BYTES output tensor.
    pub fn strings<S: Into<Vec<u8>>>(mut self, name: &str, shape: Vec<i64>, data: Vec<S>) -> Self {
        self.outputs.push(wit::Tensor {
            name: name.to_string(),
            datatype: DataType::Bytes,
            shape,
            data: wit::TensorData::Strings(data.into_iter().map(Into::into).collect()),
        });
        self
    }

    /// Adds a response parameter.
    pub fn parameter(mut self, name: &str, value: wit::ParamValue) -> Self {
        self.parameters.push(wit::Parameter {
            name: name.to_string(),
            value,
        });
        self
    }

    pub(crate) fn into_wit(self) -> wit::InferenceResponse {
        wit::InferenceResponse {
            outputs: self.outputs,
            parameters: self.parameters,
        }
    }
}

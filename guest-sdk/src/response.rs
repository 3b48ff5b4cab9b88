//! The answer a model builds.

use crate::bindings::edgeserve::ml::types as wit;
use crate::item::{Data, Item};
use crate::{DataType, Element, TensorRef};

/// A fixed-size tensor from typed elements.
pub(crate) fn raw<T: Element>(name: &str, shape: Vec<i64>, data: Vec<T>) -> Item {
    let mut bytes = Vec::with_capacity(data.len() * T::SIZE);
    for v in data {
        v.write(&mut bytes);
    }
    Item {
        name: name.to_string(),
        datatype: T::DATATYPE,
        shape,
        data: Data::Raw(bytes),
    }
}

/// A BYTES tensor.
pub(crate) fn strings<S: Into<Vec<u8>>>(name: &str, shape: Vec<i64>, data: Vec<S>) -> Item {
    Item {
        name: name.to_string(),
        datatype: DataType::Bytes,
        shape,
        data: Data::Strings(data.into_iter().map(Into::into).collect()),
    }
}

/// Replaces the tensor with the same name in place, or appends.
pub(crate) fn put(list: &mut Vec<Item>, t: Item) {
    match list.iter_mut().find(|o| o.name == t.name) {
        Some(slot) => *slot = t,
        None => list.push(t),
    }
}

/// A model's answer: output tensors, added one by one (adding a name again
/// replaces that output in place).
#[derive(Clone, Debug, Default)]
pub struct Response {
    outputs: Vec<Item>,
    parameters: Vec<wit::Parameter>,
}

impl Response {
    /// An empty response.
    pub fn new() -> Response {
        Response::default()
    }

    /// Adds (or replaces) a fixed-size output tensor.
    pub fn tensor<T: Element>(mut self, name: &str, shape: Vec<i64>, data: Vec<T>) -> Self {
        put(&mut self.outputs, raw(name, shape, data));
        self
    }

    /// Adds (or replaces) a BYTES output tensor.
    pub fn strings<S: Into<Vec<u8>>>(mut self, name: &str, shape: Vec<i64>, data: Vec<S>) -> Self {
        put(&mut self.outputs, strings(name, shape, data));
        self
    }

    /// Removes output `name`, if present.
    pub fn without(mut self, name: &str) -> Self {
        self.outputs.retain(|t| t.name != name);
        self
    }

    /// Every output, in order.
    pub fn outputs(&self) -> impl Iterator<Item = TensorRef<'_>> {
        self.outputs.iter().map(TensorRef)
    }

    /// Output `name`, if present.
    pub fn output(&self, name: &str) -> Option<TensorRef<'_>> {
        self.outputs().find(|t| t.name() == name)
    }

    /// A response parameter.
    pub fn parameter_value(&self, name: &str) -> Option<&wit::ParamValue> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }

    /// A response from its parts.
    pub(crate) fn from_parts(outputs: Vec<Item>, parameters: Vec<wit::Parameter>) -> Response {
        Response {
            outputs,
            parameters,
        }
    }

    /// Adds a response parameter.
    pub fn parameter(mut self, name: &str, value: wit::ParamValue) -> Self {
        self.parameters.push(wit::Parameter {
            name: name.to_string(),
            value,
        });
        self
    }

    /// Its outputs and parameters.
    pub(crate) fn into_parts(self) -> (Vec<Item>, Vec<wit::Parameter>) {
        (self.outputs, self.parameters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_added_replaced_and_removed_by_name() {
        let resp = Response::new()
            .tensor("scores", vec![1, 3], vec![0.1f32, 0.7, 0.2])
            .strings("label", vec![1], vec!["versicolor"])
            .tensor("scores", vec![1, 2], vec![0.5f32, 0.5]);
        let names: Vec<_> = resp.outputs().map(|t| t.name()).collect();
        assert_eq!(names, ["scores", "label"], "replaced in place");
        let scores = resp.output("scores").expect("scores");
        assert_eq!(scores.shape(), [1, 2]);
        assert_eq!(scores.typed::<f32>().map(|t| t.data), Some(vec![0.5, 0.5]));
        let label = resp.output("label").and_then(|t| t.strings());
        assert_eq!(label, Some(&[b"versicolor".to_vec()][..]));
        let resp = resp.without("scores");
        assert!(resp.output("scores").is_none());
        assert_eq!(resp.outputs().count(), 1);
    }
}

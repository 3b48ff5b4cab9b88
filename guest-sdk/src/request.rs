//! The request a model sees: typed views of its input tensors.

use crate::bindings::edgeserve::ml::types as wit;
use crate::item::{Data, Item, element_size};
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
#[derive(Clone, Debug)]
pub struct Request {
    id: String,
    inputs: Vec<Item>,
    outputs: Vec<String>,
    parameters: Vec<wit::Parameter>,
}

/// Parameter values, as sent by the client.
pub use wit::ParamValue;

impl Request {
    /// A request from its parts.
    pub(crate) fn new(
        id: String,
        inputs: Vec<Item>,
        outputs: Vec<String>,
        parameters: Vec<wit::Parameter>,
    ) -> Request {
        Request {
            id,
            inputs,
            outputs,
            parameters,
        }
    }

    /// Its inputs, requested outputs and parameters.
    pub(crate) fn into_parts(self) -> (Vec<Item>, Vec<String>, Vec<wit::Parameter>) {
        (self.inputs, self.outputs, self.parameters)
    }

    /// The request id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every input tensor, in the order the client sent them.
    pub fn inputs(&self) -> impl Iterator<Item = TensorRef<'_>> {
        self.inputs.iter().map(TensorRef)
    }

    /// Replaces (or adds) input `name` with fixed-size elements; for
    /// policies that rewrite requests.
    pub fn with_tensor<T: Element>(mut self, name: &str, shape: Vec<i64>, data: Vec<T>) -> Self {
        crate::response::put(&mut self.inputs, crate::response::raw(name, shape, data));
        self
    }

    /// Replaces (or adds) BYTES input `name`.
    pub fn with_strings<S: Into<Vec<u8>>>(
        mut self,
        name: &str,
        shape: Vec<i64>,
        data: Vec<S>,
    ) -> Self {
        crate::response::put(
            &mut self.inputs,
            crate::response::strings(name, shape, data),
        );
        self
    }

    /// The output names the client asked for (empty: all).
    pub fn requested_outputs(&self) -> &[String] {
        &self.outputs
    }

    fn input(&self, name: &str) -> Result<&Item, Error> {
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
            Data::Raw(bytes) => Ok(Tensor {
                shape: t.shape.clone(),
                data: bytes.chunks_exact(T::SIZE).map(T::read).collect(),
            }),
            Data::Strings(_) => Err(Error::invalid_input(format!(
                "input '{name}' holds strings"
            ))),
        }
    }

    /// The BYTES input `name` as byte strings.
    pub fn bytes(&self, name: &str) -> Result<Tensor<Vec<u8>>, Error> {
        let t = self.input(name)?;
        match &t.data {
            Data::Strings(s) => Ok(Tensor {
                shape: t.shape.clone(),
                data: s.clone(),
            }),
            Data::Raw(_) => Err(Error::invalid_input(format!(
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

/// A read-only view of any tensor, whatever its datatype: for code that
/// walks every input or output (policies, mostly).
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a>(pub(crate) &'a Item);

impl<'a> TensorRef<'a> {
    /// Tensor name.
    pub fn name(&self) -> &'a str {
        &self.0.name
    }

    /// Element type.
    pub fn datatype(&self) -> DataType {
        self.0.datatype
    }

    /// Dimensions.
    pub fn shape(&self) -> &'a [i64] {
        &self.0.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.0.data {
            Data::Raw(b) => element_size(self.0.datatype).map_or(0, |s| b.len() / s),
            Data::Strings(s) => s.len(),
        }
    }

    /// Whether the tensor holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as typed values, when the datatype is `T`'s.
    pub fn typed<T: Element>(&self) -> Option<Tensor<T>> {
        match &self.0.data {
            Data::Raw(bytes) if self.0.datatype == T::DATATYPE => Some(Tensor {
                shape: self.0.shape.clone(),
                data: bytes.chunks_exact(T::SIZE).map(T::read).collect(),
            }),
            _ => None,
        }
    }

    /// Every element of a numeric or boolean tensor as `f64` (FP16 is
    /// widened exactly); `None` for BYTES.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        let Data::Raw(b) = &self.0.data else {
            return None;
        };
        let size = element_size(self.0.datatype)?;
        let conv: fn(&[u8]) -> f64 = match self.0.datatype {
            DataType::Boolean | DataType::Uint8 => |c| f64::from(c[0]),
            DataType::Int8 => |c| f64::from(c[0] as i8),
            DataType::Uint16 => |c| f64::from(u16::from_le_bytes([c[0], c[1]])),
            DataType::Int16 => |c| f64::from(i16::from_le_bytes([c[0], c[1]])),
            DataType::Fp16 => |c| f16_to_f64(u16::from_le_bytes([c[0], c[1]])),
            DataType::Uint32 => |c| f64::from(u32::read(c)),
            DataType::Int32 => |c| f64::from(i32::read(c)),
            DataType::Fp32 => |c| f64::from(f32::read(c)),
            DataType::Uint64 => |c| u64::read(c) as f64,
            DataType::Int64 => |c| i64::read(c) as f64,
            DataType::Fp64 => f64::read,
            DataType::Bytes => return None,
        };
        Some(b.chunks_exact(size).map(conv).collect())
    }

    /// The elements of a BYTES tensor.
    pub fn strings(&self) -> Option<&'a [Vec<u8>]> {
        match &self.0.data {
            Data::Strings(s) => Some(s),
            Data::Raw(_) => None,
        }
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::check_size;

    fn request(inputs: Vec<Item>) -> Request {
        Request::new("r1".into(), inputs, vec!["label".into()], Vec::new())
    }

    #[test]
    fn typed_inputs_read_back_as_sent() {
        let req = request(Vec::new())
            .with_tensor("x", vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0])
            .with_strings("text", vec![2], vec!["a", "bc"]);
        assert_eq!(req.id(), "r1");
        assert_eq!(req.requested_outputs(), ["label"]);
        assert!(req.wants("label") && !req.wants("other"));
        let x = req.tensor::<f32>("x").expect("fp32 input");
        assert_eq!((x.shape.as_slice(), x.batch()), (&[2, 2][..], 2));
        assert_eq!(x.rows().collect::<Vec<_>>(), [&[1.0, 2.0][..], &[3.0, 4.0]]);
        let text = req.strings("text").expect("bytes input");
        assert_eq!(text.data, ["a", "bc"]);
        let names: Vec<_> = req.inputs().map(|t| t.name()).collect();
        assert_eq!(names, ["x", "text"]);
        // Replacing keeps the input's place.
        let req = req.with_tensor("x", vec![1], vec![9.0f32]);
        assert_eq!(req.inputs().next().map(|t| t.len()), Some(1));
    }

    #[test]
    fn wrong_names_types_and_sizes_are_the_clients_errors() {
        let req = request(Vec::new()).with_tensor("x", vec![2], vec![1i64, 2]);
        let missing = req.tensor::<f32>("y").expect_err("no input y");
        assert!(format!("{missing:?}").contains("missing input 'y'"));
        assert!(req.tensor::<f32>("x").is_err(), "INT64 read as FP32");
        let short = Item {
            name: "z".into(),
            datatype: DataType::Fp32,
            shape: vec![3],
            data: Data::Raw(vec![0; 8]),
        };
        assert!(check_size(&short).is_err(), "8 bytes cannot be 3 FP32");
        let bad_shape = Item {
            shape: vec![-1],
            ..short
        };
        assert!(check_size(&bad_shape).is_err(), "negative dimension");
    }
}

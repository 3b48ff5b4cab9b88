//! The JSON header of an OIP infer request as it is read, with every part
//! a client controls bounded while it is read: at most [`MAX_TENSORS`]
//! inputs and outputs, [`MAX_RANK`] dimensions per shape, and parameters
//! that keep only scalars ([`MAX_PARAMS`] per object; nested values are
//! skipped without being built). Tensor `data` stays borrowed text.
//! Parsing a header therefore takes memory in proportion to its text, and
//! never more than a fixed amount per entry.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

use crate::tensor::{ParamValue, Parameters};

/// Most inputs, and most requested outputs, in one request.
pub(crate) const MAX_TENSORS: usize = 1024;
/// Most dimensions a tensor's shape may have.
pub(crate) const MAX_RANK: usize = 64;
/// Most parameters in the request's own `parameters`.
pub(crate) const MAX_PARAMS: usize = 1024;
/// Most parameters of one input or requested output.
pub(crate) const MAX_TENSOR_PARAMS: usize = 64;

#[derive(Deserialize)]
pub(crate) struct WireRequest<'a> {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Option<Params<MAX_PARAMS>>,
    #[serde(borrow)]
    pub(crate) inputs: Bounded<WireInput<'a>, MAX_TENSORS>,
    #[serde(default)]
    pub(crate) outputs: Bounded<WireOutput, MAX_TENSORS>,
}

#[derive(Deserialize)]
pub(crate) struct WireInput<'a> {
    // Name, shape and datatype are required; they are optional here so
    // that a missing one is reported with the input it belongs to.
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) shape: Option<Shape>,
    #[serde(default)]
    pub(crate) datatype: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Option<Params<MAX_TENSOR_PARAMS>>,
    #[serde(default, borrow)]
    pub(crate) data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct WireOutput {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) parameters: Option<Params<MAX_TENSOR_PARAMS>>,
}

/// A JSON array of at most `N` elements, refused while it is read.
pub(crate) struct Bounded<T, const N: usize>(pub(crate) Vec<T>);

impl<T, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Bounded(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Items<T, N> {
            type Value = Bounded<T, N>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of at most {N} elements")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if items.len() == N {
                        return Err(A::Error::custom(format!("more than {N} elements")));
                    }
                    items.push(item);
                }
                Ok(Bounded(items))
            }
        }
        d.deserialize_seq(Items(PhantomData))
    }
}

/// A tensor's shape: at most [`MAX_RANK`] dimensions, refused while read.
pub(crate) struct Shape(pub(crate) Vec<i64>);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Dims;
        impl<'de> Visitor<'de> for Dims {
            type Value = Shape;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a shape: an array of at most {MAX_RANK} integers")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut dims = Vec::new();
                while let Some(d) = seq.next_element::<i64>()? {
                    if dims.len() == MAX_RANK {
                        return Err(A::Error::custom(format!(
                            "a shape has at most {MAX_RANK} dimensions"
                        )));
                    }
                    dims.push(d);
                }
                Ok(Shape(dims))
            }
        }
        d.deserialize_seq(Dims)
    }
}

/// A `parameters` object: scalar values kept (text, integer, number,
/// boolean), nested ones skipped unbuilt, at most `N` entries.
pub(crate) struct Params<const N: usize>(pub(crate) Parameters);

impl<'de, const N: usize> Deserialize<'de> for Params<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for Entries<N> {
            type Value = Params<N>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an object of at most {N} parameters")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut params = Vec::new();
                let mut seen = 0usize;
                while let Some(key) = map.next_key::<String>()? {
                    seen += 1;
                    if seen > N {
                        return Err(A::Error::custom(format!("more than {N} parameters")));
                    }
                    if let Some(value) = map.next_value_seed(Scalar)? {
                        params.push((key, value));
                    }
                }
                Ok(Params(params))
            }
        }
        d.deserialize_map(Entries::<N>)
    }
}

/// One parameter value: a scalar, or `None` for a nested value or null
/// (which have no place in the protocol's parameters).
struct Scalar;

impl<'de> DeserializeSeed<'de> for Scalar {
    type Value = Option<ParamValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scalar {
    type Value = Option<ParamValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(ParamValue::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(ParamValue::Int(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(match i64::try_from(v) {
            Ok(i) => ParamValue::Int(i),
            Err(_) => ParamValue::Float(v as f64),
        }))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(ParamValue::Float(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(ParamValue::Text(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(ParamValue::Text(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// What a parameter list takes in memory, roughly.
pub(crate) fn params_memory(params: &Parameters) -> usize {
    params
        .iter()
        .map(|(k, v)| {
            48 + k.len()
                + match v {
                    ParamValue::Text(s) => s.len(),
                    _ => 0,
                }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced_while_reading() {
        let many = format!("[{}]", vec!["1"; MAX_RANK + 1].join(","));
        assert!(serde_json::from_str::<Bounded<i64, MAX_RANK>>(&many).is_err());
        let ok = format!("[{}]", vec!["1"; MAX_RANK].join(","));
        assert_eq!(
            serde_json::from_str::<Bounded<i64, MAX_RANK>>(&ok)
                .unwrap()
                .0
                .len(),
            MAX_RANK
        );
        let params: Params<4> =
            serde_json::from_str(r#"{"a":1,"b":"x","c":{"deep":[1,2,[3]]},"d":null}"#).unwrap();
        assert_eq!(
            params.0,
            vec![
                ("a".to_string(), ParamValue::Int(1)),
                ("b".to_string(), ParamValue::Text("x".into()))
            ]
        );
        assert!(serde_json::from_str::<Params<4>>(r#"{"a":1,"b":2,"c":3,"d":4,"e":5}"#).is_err());
    }
}

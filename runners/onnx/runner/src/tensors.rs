//! Conversion between protocol tensors and tract tensors.

use edgeserve_guest::{DataType, Error, Request, Response};
use onnx_graph::TensorSpec;
use onnx_graph::tract::*;

/// The protocol datatype of a tract element type, if the protocol has one.
pub(crate) fn datatype(dt: DatumType) -> Option<DataType> {
    Some(match dt {
        DatumType::Bool => DataType::Boolean,
        DatumType::U8 => DataType::Uint8,
        DatumType::U16 => DataType::Uint16,
        DatumType::U32 => DataType::Uint32,
        DatumType::U64 => DataType::Uint64,
        DatumType::I8 => DataType::Int8,
        DatumType::I16 => DataType::Int16,
        DatumType::I32 => DataType::Int32,
        DatumType::I64 => DataType::Int64,
        DatumType::F32 => DataType::Fp32,
        DatumType::F64 => DataType::Fp64,
        DatumType::String => DataType::Bytes,
        _ => return None,
    })
}

fn shaped<T: Datum>(name: &str, shape: &[i64], data: Vec<T>) -> Result<TValue, Error> {
    let dims = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| Error::invalid_input(format!("input '{name}': negative dimension")))?;
    tract_ndarray::ArrayD::from_shape_vec(dims, data)
        .map(IntoTValue::into_tvalue)
        .map_err(|e| Error::invalid_input(format!("input '{name}': {e}")))
}

/// The request's input `spec` as a tract tensor of the graph's element type
/// (the SDK has already checked the datatype and shape against the spec).
pub(crate) fn input(request: &Request, spec: &TensorSpec) -> Result<TValue, Error> {
    let name = spec.name.as_str();
    macro_rules! typed {
        ($t:ty) => {{
            let t = request.tensor::<$t>(name)?;
            shaped(name, &t.shape, t.data)
        }};
    }
    match spec.datum {
        DatumType::Bool => typed!(bool),
        DatumType::U8 => typed!(u8),
        DatumType::U16 => typed!(u16),
        DatumType::U32 => typed!(u32),
        DatumType::U64 => typed!(u64),
        DatumType::I8 => typed!(i8),
        DatumType::I16 => typed!(i16),
        DatumType::I32 => typed!(i32),
        DatumType::I64 => typed!(i64),
        DatumType::F32 => typed!(f32),
        DatumType::F64 => typed!(f64),
        DatumType::String => {
            let t = request.strings(name)?;
            shaped(name, &t.shape, t.data)
        }
        other => Err(Error::internal(format!(
            "input '{name}' has unsupported element type {other:?}"
        ))),
    }
}

/// Adds output `name` (a tract tensor) to the response.
pub(crate) fn output(response: Response, name: &str, value: &Tensor) -> Result<Response, Error> {
    let shape: Vec<i64> = value.shape().iter().map(|&d| d as i64).collect();
    let fail = |e: TractError| Error::internal(format!("output '{name}': {e}"));
    macro_rules! typed {
        ($t:ty) => {{
            let data = value
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<$t>().map(<[$t]>::to_vec))
                .map_err(fail)?;
            Ok(response.tensor(name, shape, data))
        }};
    }
    match value.datum_type() {
        DatumType::Bool => typed!(bool),
        DatumType::U8 => typed!(u8),
        DatumType::U16 => typed!(u16),
        DatumType::U32 => typed!(u32),
        DatumType::U64 => typed!(u64),
        DatumType::I8 => typed!(i8),
        DatumType::I16 => typed!(i16),
        DatumType::I32 => typed!(i32),
        DatumType::I64 => typed!(i64),
        DatumType::F32 => typed!(f32),
        DatumType::F64 => typed!(f64),
        DatumType::String => {
            let data = value
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<String>().map(<[String]>::to_vec))
                .map_err(fail)?;
            Ok(response.strings(name, shape, data))
        }
        other => Err(Error::internal(format!(
            "output '{name}' has unsupported element type {other:?}"
        ))),
    }
}

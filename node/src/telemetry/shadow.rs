//! Comparing two answers to the same request: a shadow's against the
//! primary's, or a rescore candidate's against the logged one. Labels
//! (BYTES, integer and boolean outputs) are compared element by element;
//! floating-point outputs by absolute difference.

use crate::tensor::{DataType, InferenceResponse, Tensor, TensorData};

/// How one output of two answers compares.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputDiff {
    /// Labels: elements equal, elements compared, and the first pair that
    /// differs.
    Labels {
        /// Equal elements.
        same: usize,
        /// Elements compared.
        total: usize,
        /// The first differing pair (reference, other), as text.
        first_mismatch: Option<(String, String)>,
    },
    /// Floating-point values: the absolute difference of every element.
    Numbers {
        /// |a - b| per element.
        diffs: Vec<f64>,
        /// Whether every element is within a relative 1e-5.
        close: bool,
    },
    /// Not comparable: missing on one side, or another datatype or shape.
    Mismatch(String),
}

/// Every output of the reference answer, compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Output name and how it compares, in the reference's order.
    pub outputs: Vec<(String, OutputDiff)>,
}

impl Comparison {
    /// Whether the answers agree: every label equal, every number within a
    /// relative 1e-5, nothing missing.
    pub fn agree(&self) -> bool {
        self.outputs.iter().all(|(_, d)| match d {
            OutputDiff::Labels { same, total, .. } => same == total,
            OutputDiff::Numbers { close, .. } => *close,
            OutputDiff::Mismatch(_) => false,
        })
    }

    /// The largest absolute difference over the numeric outputs.
    pub fn max_abs(&self) -> Option<f64> {
        self.outputs
            .iter()
            .filter_map(|(_, d)| match d {
                OutputDiff::Numbers { diffs, .. } => diffs.iter().copied().reduce(f64::max),
                _ => None,
            })
            .reduce(f64::max)
    }

    /// Equal and compared label elements over the label outputs.
    pub fn labels(&self) -> Option<(usize, usize)> {
        self.outputs
            .iter()
            .filter_map(|(_, d)| match d {
                OutputDiff::Labels { same, total, .. } => Some((*same, *total)),
                _ => None,
            })
            .reduce(|a, b| (a.0 + b.0, a.1 + b.1))
    }
}

/// Element `i` as text (for labels and reports).
pub fn element_text(t: &Tensor, i: usize) -> String {
    match &t.data {
        TensorData::Strings(s) => s
            .get(i)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        TensorData::Raw(_) => element_f64(t, i).map(|v| v.to_string()).unwrap_or_default(),
    }
}

/// Element `i` of a fixed-size tensor as f64.
pub fn element_f64(t: &Tensor, i: usize) -> Option<f64> {
    let TensorData::Raw(b) = &t.data else {
        return None;
    };
    let size = t.datatype.element_size()?;
    let c = b.get(i * size..(i + 1) * size)?;
    Some(match t.datatype {
        DataType::F32 => f64::from(f32::from_le_bytes(c.try_into().ok()?)),
        DataType::F64 => f64::from_le_bytes(c.try_into().ok()?),
        DataType::F16 => f64::from(half::f16::from_le_bytes(c.try_into().ok()?)),
        DataType::I8 => f64::from(c[0] as i8),
        DataType::U8 | DataType::Bool => f64::from(c[0]),
        DataType::I16 => f64::from(i16::from_le_bytes(c.try_into().ok()?)),
        DataType::U16 => f64::from(u16::from_le_bytes(c.try_into().ok()?)),
        DataType::I32 => f64::from(i32::from_le_bytes(c.try_into().ok()?)),
        DataType::U32 => f64::from(u32::from_le_bytes(c.try_into().ok()?)),
        DataType::I64 => i64::from_le_bytes(c.try_into().ok()?) as f64,
        DataType::U64 => u64::from_le_bytes(c.try_into().ok()?) as f64,
        DataType::Bytes => return None,
    })
}

/// Whether a datatype is compared as labels rather than numbers.
pub fn is_label(d: DataType) -> bool {
    !matches!(d, DataType::F16 | DataType::F32 | DataType::F64)
}

/// Compares one output (`a` is the reference).
pub fn compare_tensor(a: &Tensor, b: &Tensor) -> OutputDiff {
    if a.datatype != b.datatype || a.shape != b.shape {
        return OutputDiff::Mismatch(format!(
            "{} {:?} vs {} {:?}",
            a.datatype, a.shape, b.datatype, b.shape
        ));
    }
    let n = a.element_count().unwrap_or(0);
    if is_label(a.datatype) {
        let mut same = 0;
        let mut first = None;
        for i in 0..n {
            let (x, y) = (element_text(a, i), element_text(b, i));
            if x == y {
                same += 1;
            } else if first.is_none() {
                first = Some((x, y));
            }
        }
        OutputDiff::Labels {
            same,
            total: n,
            first_mismatch: first,
        }
    } else {
        let mut close = true;
        let diffs = (0..n)
            .map(|i| {
                let (x, y) = (
                    element_f64(a, i).unwrap_or(f64::NAN),
                    element_f64(b, i).unwrap_or(f64::NAN),
                );
                let d = (x - y).abs();
                let ok = d <= 1e-5 * (1.0 + x.abs().max(y.abs())) || (x.is_nan() && y.is_nan());
                close &= ok;
                if x.is_nan() && y.is_nan() { 0.0 } else { d }
            })
            .collect();
        OutputDiff::Numbers { diffs, close }
    }
}

/// Compares every output of `reference` with `other`'s output of the same
/// name.
pub fn compare(reference: &InferenceResponse, other: &InferenceResponse) -> Comparison {
    Comparison {
        outputs: reference
            .outputs
            .iter()
            .map(|a| {
                let diff = match other.outputs.iter().find(|b| b.name == a.name) {
                    Some(b) => compare_tensor(a, b),
                    None => OutputDiff::Mismatch("missing".into()),
                };
                (a.name.clone(), diff)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(name: &str, v: &[f32]) -> Tensor {
        Tensor {
            name: name.into(),
            datatype: DataType::F32,
            shape: vec![v.len() as i64],
            data: TensorData::Raw(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }

    fn labels(v: &[&str]) -> Tensor {
        Tensor {
            name: "label".into(),
            datatype: DataType::Bytes,
            shape: vec![v.len() as i64],
            data: TensorData::Strings(v.iter().map(|s| s.as_bytes().to_vec()).collect()),
        }
    }

    #[test]
    fn labels_and_numbers() {
        let a = InferenceResponse {
            outputs: vec![f32s("p", &[0.5, 0.25]), labels(&["cat", "dog"])],
            ..Default::default()
        };
        let same = compare(&a, &a);
        assert!(same.agree());
        assert_eq!(same.max_abs(), Some(0.0));
        assert_eq!(same.labels(), Some((2, 2)));
        let b = InferenceResponse {
            outputs: vec![f32s("p", &[0.5, 0.5]), labels(&["cat", "cow"])],
            ..Default::default()
        };
        let diff = compare(&a, &b);
        assert!(!diff.agree());
        assert_eq!(diff.max_abs(), Some(0.25));
        assert_eq!(diff.labels(), Some((1, 2)));
        let missing = compare(&a, &InferenceResponse::default());
        assert!(!missing.agree());
    }
}

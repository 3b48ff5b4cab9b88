//! `OneHotEncoder` and `LabelEncoder` (scikit-learn's `OneHotEncoder` and
//! `OrdinalEncoder` columns), as onnxruntime computes them.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::{Attrs, Kernel, slice, tensor};

/// `OneHotEncoder`: each input value becomes a row of `categories` floats,
/// 1 where the category matches; the output's shape is the input's plus
/// one axis.
#[derive(Debug)]
struct OneHot {
    strings: HashMap<String, usize>,
    ints: HashMap<i64, usize>,
    categories: usize,
    /// With `zeros = 0`, an unknown category is an error.
    unknown_is_error: bool,
}

pub(super) fn one_hot_encoder(node: &NodeProto) -> TractResult<Arc<dyn Kernel>> {
    let attrs = Attrs(node);
    let strings = attrs.strings("cats_strings");
    let ints = attrs.ints("cats_int64s");
    ensure!(
        strings.is_empty() != ints.is_empty(),
        "needs exactly one of cats_strings and cats_int64s"
    );
    let categories = strings.len() + ints.len();
    Ok(Arc::new(OneHot {
        strings: first_index(strings),
        ints: first_index(ints),
        categories,
        unknown_is_error: attrs.int("zeros").unwrap_or(1) == 0,
    }))
}

/// Each key with the index of its first appearance.
fn first_index<K: std::hash::Hash + Eq>(keys: Vec<K>) -> HashMap<K, usize> {
    let mut map = HashMap::with_capacity(keys.len());
    for (i, k) in keys.into_iter().enumerate() {
        map.entry(k).or_insert(i);
    }
    map
}

impl OneHot {
    /// The category of each value, `None` for an unknown one.
    fn indices(&self, input: &Tensor) -> TractResult<Vec<Option<usize>>> {
        if input.datum_type() == DatumType::String {
            let values = slice::<String>(input)?;
            return Ok(values
                .iter()
                .map(|v| self.strings.get(v).copied())
                .collect());
        }
        ensure!(
            self.strings.is_empty(),
            "string categories, {:?} input",
            input.datum_type()
        );
        // onnxruntime truncates floating-point inputs to integers.
        let ints: Vec<i64> = match input.datum_type() {
            DatumType::F32 => slice::<f32>(input)?.iter().map(|&v| v as i64).collect(),
            DatumType::F64 => slice::<f64>(input)?.iter().map(|&v| v as i64).collect(),
            _ => slice::<i64>(input.cast_to::<i64>()?.as_ref())?.to_vec(),
        };
        Ok(ints.iter().map(|v| self.ints.get(v).copied()).collect())
    }
}

impl Kernel for OneHot {
    fn name(&self) -> &'static str {
        "OneHotEncoder"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(inputs[0].rank.bex() + 1, &outputs[0].rank)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            for axis in 0..rank {
                s.equals(&outputs[0].shape[axis], &inputs[0].shape[axis])?;
            }
            s.equals(&outputs[0].shape[rank], self.categories.to_dim())
        })
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.categories.into());
        Ok(tvec!(f32::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let indices = self.indices(input)?;
        let c = self.categories;
        let mut out = vec![0f32; indices.len() * c];
        for (row, index) in out.chunks_exact_mut(c).zip(&indices) {
            match index {
                Some(i) => row[*i] = 1.0,
                None if self.unknown_is_error => {
                    bail!("an unknown category (the encoder was exported with zeros=0)")
                }
                None => {}
            }
        }
        let mut shape = input.shape().to_vec();
        shape.push(c);
        Ok(tvec!(tensor(&shape, out)?))
    }
}

/// Keys or values of a `LabelEncoder`.
#[derive(Debug)]
enum Column {
    Strings(Vec<String>),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
}

impl Column {
    fn datum(&self) -> DatumType {
        match self {
            Column::Strings(_) => DatumType::String,
            Column::Ints(_) => DatumType::I64,
            Column::Floats(_) => DatumType::F32,
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Strings(v) => v.len(),
            Column::Ints(v) => v.len(),
            Column::Floats(v) => v.len(),
        }
    }

    /// The `prefix_strings`, `prefix_int64s` or `prefix_floats` attribute:
    /// exactly one must be set.
    fn parse(attrs: &Attrs, prefix: &str) -> TractResult<Column> {
        let names = ["strings", "int64s", "floats"].map(|t| format!("{prefix}_{t}"));
        let set: Vec<&String> = names.iter().filter(|n| attrs.has(n)).collect();
        ensure!(
            set.len() == 1,
            "needs exactly one of {} (the ai.onnx.ml opset 2 attributes)",
            names.join(", ")
        );
        Ok(match set[0].rsplit('_').next() {
            Some("strings") => Column::Strings(attrs.strings(set[0])),
            Some("int64s") => Column::Ints(attrs.ints(set[0])),
            _ => Column::Floats(attrs.floats(set[0])),
        })
    }
}

/// A float key: every NaN is one key, and so are 0.0 and -0.0.
fn float_key(v: f32) -> u32 {
    if v.is_nan() {
        f32::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// `LabelEncoder`: maps each input value through `keys -> values`, the
/// default for a value that is not a key.
#[derive(Debug)]
struct LabelEncoder {
    keys: Column,
    strings: HashMap<String, usize>,
    ints: HashMap<i64, usize>,
    floats: HashMap<u32, usize>,
    values: Column,
    default_string: String,
    default_int: i64,
    default_float: f32,
}

pub(super) fn label_encoder(node: &NodeProto) -> TractResult<Arc<dyn Kernel>> {
    let attrs = Attrs(node);
    ensure!(
        !attrs.has("keys_tensor") && !attrs.has("classes_strings"),
        "only the ai.onnx.ml opset 2 and 3 form (keys_* and values_* attributes) is supported"
    );
    let keys = Column::parse(&attrs, "keys")?;
    let values = Column::parse(&attrs, "values")?;
    ensure!(
        keys.len() == values.len(),
        "{} keys for {} values",
        keys.len(),
        values.len()
    );
    let (mut strings, mut ints, mut floats) = (HashMap::new(), HashMap::new(), HashMap::new());
    match &keys {
        Column::Strings(k) => strings = first_index(k.clone()),
        Column::Ints(k) => ints = first_index(k.clone()),
        Column::Floats(k) => floats = first_index(k.iter().map(|&v| float_key(v)).collect()),
    }
    Ok(Arc::new(LabelEncoder {
        keys,
        strings,
        ints,
        floats,
        values,
        default_string: attrs
            .string("default_string")
            .unwrap_or_else(|| "_Unused".into()),
        default_int: attrs.int("default_int64").unwrap_or(-1),
        default_float: attrs.float("default_float").unwrap_or(-0.0),
    }))
}

impl LabelEncoder {
    /// The index of each input value among the keys.
    fn indices(&self, input: &Tensor) -> TractResult<Vec<Option<usize>>> {
        ensure!(
            input.datum_type() == self.keys.datum(),
            "{:?} input for {:?} keys",
            input.datum_type(),
            self.keys.datum()
        );
        Ok(match &self.keys {
            Column::Strings(_) => slice::<String>(input)?
                .iter()
                .map(|v| self.strings.get(v).copied())
                .collect(),
            Column::Ints(_) => slice::<i64>(input)?
                .iter()
                .map(|v| self.ints.get(v).copied())
                .collect(),
            Column::Floats(_) => slice::<f32>(input)?
                .iter()
                .map(|&v| self.floats.get(&float_key(v)).copied())
                .collect(),
        })
    }
}

impl Kernel for LabelEncoder {
    fn name(&self) -> &'static str {
        "LabelEncoder"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&inputs[0].datum_type, self.keys.datum())?;
        s.equals(&outputs[0].datum_type, self.values.datum())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.values.datum().fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let indices = self.indices(input)?;
        let shape = input.shape();
        Ok(tvec!(match &self.values {
            Column::Strings(v) => tensor(
                shape,
                indices
                    .iter()
                    .map(|i| i.map_or_else(|| self.default_string.clone(), |i| v[i].clone()))
                    .collect(),
            )?,
            Column::Ints(v) => tensor(
                shape,
                indices
                    .iter()
                    .map(|i| i.map_or(self.default_int, |i| v[i]))
                    .collect(),
            )?,
            Column::Floats(v) => tensor(
                shape,
                indices
                    .iter()
                    .map(|i| i.map_or(self.default_float, |i| v[i]))
                    .collect(),
            )?,
        }))
    }
}

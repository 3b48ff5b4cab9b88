//! Rewrites of scikit-learn's preprocessing operators, and of the ZipMap
//! skl2onnx puts after a classifier by default:
//!
//! - `Binarizer(x; threshold)`: `CastLike(Greater(x, threshold), x)`, 1
//!   above the threshold and 0 elsewhere, in the input's element type.
//! - `Imputer(x; imputed, replaced)`: `Where(IsNaN(x), imputed, x)` when
//!   the replaced value is NaN (`SimpleImputer`'s default), else
//!   `Where(Equal(x, replaced), imputed, x)`; one imputed value for every
//!   column or one per column, as in onnxruntime.
//! - `FeatureVectorizer(x1, x2, ...)`: each input cast to float, then
//!   concatenated along the columns.
//! - `ArrayFeatureExtractor(x, indices)`: tract runs it, but drops the last
//!   axis for a scalar index where onnxruntime keeps it (`[N, 1]`, which
//!   skl2onnx's SVC graphs rely on): the indices are flattened first.
//! - `ZipMap` whose output is a graph output: dropped; that output is the
//!   probabilities tensor itself (`[N, classes]`, columns in the ZipMap's
//!   label order) under the same name (`output_probability` by default).
//!   A ZipMap elsewhere is refused with the hint to re-export without it.

use anyhow::{Context, bail};
use tract_onnx::pb::NodeProto;

use super::{Rewriter, attr, int, prefix};

/// ONNX's FLOAT element type.
const FLOAT: i64 = 1;

impl Rewriter<'_> {
    pub(super) fn binarizer(&mut self, node: NodeProto) -> anyhow::Result<()> {
        let ([x], [y]) = (node.input.as_slice(), node.output.as_slice()) else {
            bail!("expects one input and one output");
        };
        let base = prefix(&node);
        let threshold = attr(&node, "threshold").map_or(0.0, |a| a.f);
        let threshold = self.constant(&format!("{base}__threshold"), vec![threshold]);
        let (typed, above) = (format!("{base}__threshold_typed"), format!("{base}__above"));
        self.op(
            "CastLike",
            &format!("{base}__threshold_cast"),
            &[&threshold, x],
            &typed,
            vec![],
        );
        self.op(
            "Greater",
            &format!("{base}__greater"),
            &[x, &typed],
            &above,
            vec![],
        );
        self.op(
            "CastLike",
            &format!("{base}__cast"),
            &[&above, x],
            y,
            vec![],
        );
        Ok(())
    }

    pub(super) fn imputer(&mut self, node: NodeProto) -> anyhow::Result<()> {
        let ([x], [y]) = (node.input.as_slice(), node.output.as_slice()) else {
            bail!("expects one input and one output");
        };
        let base = prefix(&node);
        let floats = attr(&node, "imputed_value_floats").map(|a| a.floats.clone());
        let ints = attr(&node, "imputed_value_int64s").map(|a| a.ints.clone());
        let mask = format!("{base}__missing");
        let imputed = match (floats, ints) {
            (Some(values), None) if !values.is_empty() => {
                let replaced = attr(&node, "replaced_value_float").map_or(0.0, |a| a.f);
                if replaced.is_nan() {
                    self.op("IsNaN", &format!("{base}__isnan"), &[x], &mask, vec![]);
                } else {
                    let r = self.constant(&format!("{base}__replaced"), vec![replaced]);
                    self.op("Equal", &format!("{base}__equal"), &[x, &r], &mask, vec![]);
                }
                self.constant(&format!("{base}__imputed"), values)
            }
            (None, Some(values)) if !values.is_empty() => {
                let replaced = attr(&node, "replaced_value_int64").map_or(0, |a| a.i);
                let r = self.int_constant(&format!("{base}__replaced"), vec![replaced]);
                self.op("Equal", &format!("{base}__equal"), &[x, &r], &mask, vec![]);
                self.int_constant(&format!("{base}__imputed"), values)
            }
            _ => bail!("needs exactly one of imputed_value_floats and imputed_value_int64s"),
        };
        self.op(
            "Where",
            &format!("{base}__where"),
            &[&mask, &imputed, x],
            y,
            vec![],
        );
        Ok(())
    }

    pub(super) fn feature_vectorizer(&mut self, node: NodeProto) -> anyhow::Result<()> {
        let [y] = node.output.as_slice() else {
            bail!("expects one output");
        };
        if node.input.is_empty() {
            bail!("expects at least one input");
        }
        let base = prefix(&node);
        let mut columns = Vec::with_capacity(node.input.len());
        for (i, x) in node.input.iter().enumerate() {
            let float = format!("{base}__float{i}");
            self.op(
                "Cast",
                &format!("{base}__cast{i}"),
                &[x],
                &float,
                vec![int("to", FLOAT)],
            );
            columns.push(float);
        }
        let columns: Vec<&String> = columns.iter().collect();
        self.op(
            "Concat",
            &format!("{base}__concat"),
            &columns,
            y,
            vec![int("axis", 1)],
        );
        Ok(())
    }

    pub(super) fn feature_extractor(&mut self, mut node: NodeProto) -> anyhow::Result<()> {
        let [_, indices] = node.input.as_slice() else {
            bail!("expects two inputs");
        };
        let base = prefix(&node);
        let shape = self.int_constant(&format!("{base}__flat_shape"), vec![-1]);
        let flat = format!("{base}__flat_indices");
        self.op(
            "Reshape",
            &format!("{base}__flatten"),
            &[indices, &shape],
            &flat,
            vec![],
        );
        node.input[1] = flat;
        self.out.push(node);
        Ok(())
    }

    pub(super) fn zipmap(&mut self, node: NodeProto) -> anyhow::Result<()> {
        let ([x], [y]) = (node.input.as_slice(), node.output.as_slice()) else {
            bail!("expects one input and one output");
        };
        let output = self
            .graph
            .output
            .iter_mut()
            .find(|o| o.name == *y)
            .with_context(|| {
                format!(
                    "operator ZipMap (ai.onnx.ml) in node '{}' is not supported: re-export with \
                     options={{'zipmap': False}} (skl2onnx)",
                    prefix(&node)
                )
            })?;
        // The output was declared a sequence of maps; it is a tensor now.
        output.r#type = None;
        self.op(
            "Identity",
            &format!("{}__unzipped", prefix(&node)),
            &[x],
            y,
            vec![],
        );
        Ok(())
    }
}

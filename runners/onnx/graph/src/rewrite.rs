//! Rewrites of `ai.onnx.ml` nodes that tract does not run (or runs
//! differently from onnxruntime) into nodes it runs with the same results,
//! as scikit-learn models exported by skl2onnx need them:
//!
//! - `Scaler` (`StandardScaler`, `MinMaxScaler`, ...): `y = (x - offset) *
//!   scale` becomes `Sub` and `Mul` with two constant initialisers.
//! - `LinearClassifier` / `TreeEnsembleClassifier` with string class labels
//!   (tract fails to type them): the classifier gets integer labels
//!   `0..k` and a `CategoryMapper` turns them back into the strings.
//! - A binary `TreeEnsembleClassifier` with one score column (gradient
//!   boosting: every leaf votes for class 0, one base value): tract wants
//!   one base value per class and picks the wrong label. The raw score is
//!   taken from the ensemble, and `p = sigmoid(score + base)` (or the score
//!   itself without a post transform), `probabilities = [1 - p, p]` and
//!   `label = labels[p > 0.5]` are wired from standard operators, as
//!   onnxruntime computes them.
//! - `Binarizer`, `Imputer`, `FeatureVectorizer`, `ArrayFeatureExtractor`
//!   with scalar indices and a trailing `ZipMap`: see [`preprocessing`].

mod preprocessing;

use anyhow::{Context, bail};
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

use crate::operators;

const ML: &str = "ai.onnx.ml";

/// The `ai.onnx.ml` operators tract does not run that [`rewrite`] turns
/// into operators it runs.
pub const REWRITTEN: &[&str] = &[
    "Binarizer",
    "FeatureVectorizer",
    "Imputer",
    "Scaler",
    "ZipMap",
];

/// Rewrites every supported `ai.onnx.ml` node of the main graph in place.
pub fn rewrite(model: &mut ModelProto) -> anyhow::Result<()> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(());
    };
    let mut out = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        let what = format!("{} node '{}'", node.op_type, node.name);
        let mut rw = Rewriter {
            graph,
            out: &mut out,
        };
        rw.node(node).context(what)?;
    }
    graph.node = out;
    Ok(())
}

struct Rewriter<'a> {
    graph: &'a mut GraphProto,
    out: &'a mut Vec<NodeProto>,
}

impl Rewriter<'_> {
    fn node(&mut self, node: NodeProto) -> anyhow::Result<()> {
        if operators::canonical_domain(&node.domain) != ML {
            self.out.push(node);
            return Ok(());
        }
        match node.op_type.as_str() {
            "Scaler" => self.scaler(node),
            "Binarizer" => self.binarizer(node),
            "Imputer" => self.imputer(node),
            "FeatureVectorizer" => self.feature_vectorizer(node),
            "ZipMap" => self.zipmap(node),
            "ArrayFeatureExtractor" => self.feature_extractor(node),
            "TreeEnsembleClassifier" if binary_single_score(&node) => self.binary_trees(node),
            "LinearClassifier" | "TreeEnsembleClassifier"
                if attr(&node, "classlabels_strings").is_some() =>
            {
                self.string_labels(node)
            }
            _ => {
                self.out.push(node);
                Ok(())
            }
        }
    }

    /// `Scaler(x; offset, scale)` → `Mul(Sub(x, offset), scale)`; a missing
    /// attribute means 0 (offset) or 1 (scale).
    fn scaler(&mut self, node: NodeProto) -> anyhow::Result<()> {
        let ([x], [y]) = (node.input.as_slice(), node.output.as_slice()) else {
            bail!("expects one input and one output");
        };
        let base = prefix(&node);
        let offset = attr(&node, "offset").map_or(vec![0.0], |a| a.floats.clone());
        let scale = attr(&node, "scale").map_or(vec![1.0], |a| a.floats.clone());
        let offset = self.constant(&format!("{base}__offset"), offset);
        let scale = self.constant(&format!("{base}__scale"), scale);
        let centred = format!("{base}__centred");
        self.op(
            "Sub",
            &format!("{base}__sub"),
            &[x, &offset],
            &centred,
            vec![],
        );
        self.op(
            "Mul",
            &format!("{base}__mul"),
            &[&centred, &scale],
            y,
            vec![],
        );
        Ok(())
    }

    /// Integer labels `0..k` for the classifier, then a `CategoryMapper`
    /// back to the strings.
    fn string_labels(&mut self, mut node: NodeProto) -> anyhow::Result<()> {
        let labels = take_attr(&mut node, "classlabels_strings").context("no labels")?;
        let label_out = node.output.first().cloned().context("no label output")?;
        let index = format!("{label_out}__index");
        node.output[0] = index.clone();
        let k = labels.strings.len() as i64;
        // The ONNX spec names the integer labels differently per operator.
        let int_labels = if node.op_type == "LinearClassifier" {
            "classlabels_ints"
        } else {
            "classlabels_int64s"
        };
        node.attribute.push(ints(int_labels, (0..k).collect()));
        let base = prefix(&node);
        self.out.push(node);
        let mapper = vec![
            ints("cats_int64s", (0..k).collect()),
            AttributeProto {
                name: "cats_strings".into(),
                r#type: AttributeType::Strings as i32,
                strings: labels.strings,
                ..AttributeProto::default()
            },
            AttributeProto {
                name: "default_string".into(),
                r#type: AttributeType::String as i32,
                s: Vec::new(),
                ..AttributeProto::default()
            },
        ];
        self.op_ml(
            "CategoryMapper",
            &format!("{base}__labels"),
            &[&index],
            &label_out,
            mapper,
        );
        Ok(())
    }

    /// A one-score binary tree ensemble, evaluated as onnxruntime does: the
    /// ensemble's raw score, `p` from it, `[1 - p, p]` as the
    /// probabilities and `labels[p > 0.5]` as the label.
    fn binary_trees(&mut self, mut node: NodeProto) -> anyhow::Result<()> {
        let ([x], [label, probabilities]) = (node.input.as_slice(), node.output.as_slice()) else {
            bail!("expects one input and two outputs");
        };
        let (x, label, probabilities) = (x.clone(), label.clone(), probabilities.clone());
        let base = prefix(&node);
        let labels = take_attr(&mut node, "classlabels_int64s");
        let labels_str = take_attr(&mut node, "classlabels_strings");
        let base_value = take_attr(&mut node, "base_values")
            .and_then(|a| a.floats.first().copied())
            .unwrap_or(0.0);
        let logistic = is_logistic(take_attr(&mut node, "post_transform"))?;
        let raw = self.raw_scores(node, &base, x);
        let p = self.positive_probability(&base, &raw, base_value, logistic);
        self.probabilities(&base, &p, &probabilities);
        let index = self.positive_index(&base, &p);
        self.binary_label(&base, &index, &label, (labels, labels_str))
    }

    /// The ensemble itself, now with labels `[0, 1]` and only its raw
    /// scores wired on (tract lays a one-score binary result out as
    /// `[1 - s, s]`); returns the name of those scores.
    fn raw_scores(&mut self, mut node: NodeProto, base: &str, x: String) -> String {
        node.attribute.push(ints("classlabels_int64s", vec![0, 1]));
        let (raw_label, raw) = (format!("{base}__raw_label"), format!("{base}__raw"));
        node.input = vec![x];
        node.output = vec![raw_label, raw.clone()];
        self.out.push(node);
        raw
    }

    /// `p`: the score column `s` of the raw scores plus the base value,
    /// through a sigmoid when the post transform is logistic.
    fn positive_probability(
        &mut self,
        base: &str,
        raw: &String,
        base_value: f32,
        logistic: bool,
    ) -> String {
        let (one_col, starts, ends, axes) = (
            format!("{base}__score"),
            self.int_constant(&format!("{base}__starts"), vec![1]),
            self.int_constant(&format!("{base}__ends"), vec![2]),
            self.int_constant(&format!("{base}__axes"), vec![1]),
        );
        self.op(
            "Slice",
            &format!("{base}__slice"),
            &[raw, &starts, &ends, &axes],
            &one_col,
            vec![],
        );
        let bias = self.constant(&format!("{base}__base"), vec![base_value]);
        let biased = format!("{base}__biased");
        self.op(
            "Add",
            &format!("{base}__add"),
            &[&one_col, &bias],
            &biased,
            vec![],
        );
        let p = format!("{base}__p");
        let (kind, name) = if logistic {
            ("Sigmoid", format!("{base}__sigmoid"))
        } else {
            ("Identity", format!("{base}__identity"))
        };
        self.op(kind, &name, &[&biased], &p, vec![]);
        p
    }

    /// `probabilities = [1 - p, p]`.
    fn probabilities(&mut self, base: &str, p: &String, probabilities: &str) {
        let one = self.constant(&format!("{base}__one"), vec![1.0]);
        let q = format!("{base}__q");
        self.op(
            "Sub",
            &format!("{base}__complement"),
            &[&one, p],
            &q,
            vec![],
        );
        self.op(
            "Concat",
            &format!("{base}__concat"),
            &[&q, p],
            probabilities,
            vec![int("axis", 1)],
        );
    }

    /// The label index per row, `p > 0.5` as an int64 (0 or 1), flattened
    /// to one dimension; returns its name.
    fn positive_index(&mut self, base: &str, p: &String) -> String {
        let half = self.constant(&format!("{base}__half"), vec![0.5]);
        let (above, index, flat) = (
            format!("{base}__above"),
            format!("{base}__index"),
            format!("{base}__index_flat"),
        );
        self.op(
            "Greater",
            &format!("{base}__greater"),
            &[p, &half],
            &above,
            vec![],
        );
        self.op(
            "Cast",
            &format!("{base}__cast"),
            &[&above],
            &index,
            vec![int("to", 7)],
        );
        let squeeze_axes = self.int_constant(&format!("{base}__squeeze_axes"), vec![1]);
        self.op(
            "Squeeze",
            &format!("{base}__squeeze"),
            &[&index, &squeeze_axes],
            &flat,
            vec![],
        );
        flat
    }

    /// `label = labels[index]`: a `Gather` from integer labels, or a
    /// `CategoryMapper` to string labels.
    fn binary_label(
        &mut self,
        base: &str,
        index: &String,
        label: &str,
        labels: (Option<AttributeProto>, Option<AttributeProto>),
    ) -> anyhow::Result<()> {
        match labels {
            (Some(l), None) => {
                let table = self.int_constant(&format!("{base}__labels"), l.ints);
                self.op(
                    "Gather",
                    &format!("{base}__gather"),
                    &[&table, index],
                    label,
                    vec![int("axis", 0)],
                );
            }
            (None, Some(l)) => {
                let mapper = vec![
                    ints("cats_int64s", vec![0, 1]),
                    AttributeProto {
                        name: "cats_strings".into(),
                        r#type: AttributeType::Strings as i32,
                        strings: l.strings,
                        ..AttributeProto::default()
                    },
                    AttributeProto {
                        name: "default_string".into(),
                        r#type: AttributeType::String as i32,
                        ..AttributeProto::default()
                    },
                ];
                self.op_ml(
                    "CategoryMapper",
                    &format!("{base}__labels"),
                    &[index],
                    label,
                    mapper,
                );
            }
            _ => bail!("needs exactly one of classlabels_int64s and classlabels_strings"),
        }
        Ok(())
    }

    fn constant(&mut self, name: &str, values: Vec<f32>) -> String {
        self.graph.initializer.push(TensorProto {
            name: name.to_string(),
            dims: vec![values.len() as i64],
            data_type: 1, // FLOAT
            float_data: values,
            ..TensorProto::default()
        });
        name.to_string()
    }

    fn int_constant(&mut self, name: &str, values: Vec<i64>) -> String {
        self.graph.initializer.push(TensorProto {
            name: name.to_string(),
            dims: vec![values.len() as i64],
            data_type: 7, // INT64
            int64_data: values,
            ..TensorProto::default()
        });
        name.to_string()
    }

    fn op(
        &mut self,
        kind: &str,
        name: &str,
        inputs: &[&String],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.out.push(NodeProto {
            op_type: kind.to_string(),
            name: name.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            attribute,
            ..NodeProto::default()
        });
    }

    fn op_ml(
        &mut self,
        kind: &str,
        name: &str,
        inputs: &[&String],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.op(kind, name, inputs, output, attribute);
        if let Some(node) = self.out.last_mut() {
            node.domain = ML.to_string();
        }
    }
}

/// Two class labels and every leaf voting for class 0: one score column.
fn binary_single_score(node: &NodeProto) -> bool {
    let labels = attr(node, "classlabels_int64s")
        .map(|a| a.ints.len())
        .or_else(|| attr(node, "classlabels_strings").map(|a| a.strings.len()));
    labels == Some(2) && attr(node, "class_ids").is_some_and(|a| a.ints.iter().all(|&c| c == 0))
}

/// Whether a binary ensemble's post transform is the logistic function
/// (`LOGISTIC`) rather than none (`NONE`, or no attribute); any other is
/// not supported.
fn is_logistic(post_transform: Option<AttributeProto>) -> anyhow::Result<bool> {
    match post_transform.map(|a| a.s) {
        None => Ok(false),
        Some(s) if s == b"NONE" => Ok(false),
        Some(s) if s == b"LOGISTIC" => Ok(true),
        Some(s) => bail!(
            "binary post transform {} is not supported",
            String::from_utf8_lossy(&s)
        ),
    }
}

fn prefix(node: &NodeProto) -> String {
    if node.name.is_empty() {
        node.output
            .first()
            .cloned()
            .unwrap_or_else(|| node.op_type.clone())
    } else {
        node.name.clone()
    }
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn take_attr(node: &mut NodeProto, name: &str) -> Option<AttributeProto> {
    let ix = node.attribute.iter().position(|a| a.name == name)?;
    Some(node.attribute.remove(ix))
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..AttributeProto::default()
    }
}

fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Ints as i32,
        ints: values,
        ..AttributeProto::default()
    }
}

#[cfg(test)]
mod tests;

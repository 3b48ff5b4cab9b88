//! Rewrites of `ai.onnx.ml` nodes that tract does not run (or runs
//! differently from onnxruntime) into nodes it runs with the same results,
//! as scikit-learn models exported by skl2onnx need them:
//!
//! - `Scaler` (`StandardScaler`, `MinMaxScaler`, ...): `y = (x - offset) *
//!   scale` becomes `Sub` and `Mul` with two constant initialisers.
//! - `LinearClassifier` with string class labels (tract fails to type
//!   them): the classifier gets integer labels `0..k` and a
//!   `CategoryMapper` turns them back into the strings.
//!
//! `TreeEnsembleClassifier` needs none: the runner's own kernel
//! ([`crate::ml`]) takes string labels and one-score binary ensembles.
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
            "LinearClassifier" if attr(&node, "classlabels_strings").is_some() => {
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
        node.attribute
            .push(ints("classlabels_ints", (0..k).collect()));
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

//! `TreeEnsembleRegressor` (scikit-learn's decision trees, random forests,
//! gradient boosting and histogram gradient boosting regressors), as
//! onnxruntime computes it: each tree's leaf weights summed per target in
//! single precision, tree after tree, then averaged (`AVERAGE`) and the
//! base value added.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::{Attrs, Kernel, Post, rows_f32, slice, tensor};

/// How a branch compares the feature with its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

/// One node, its children as indices into the ensemble's node list.
#[derive(Clone, Copy, Debug)]
enum TreeNode {
    Branch {
        cmp: Cmp,
        feature: usize,
        threshold: f32,
        yes: usize,
        no: usize,
        nan_is_yes: bool,
    },
    /// Its weights: `weights[start..end]`.
    Leaf { start: usize, end: usize },
}

#[derive(Debug)]
struct Regressor {
    nodes: Vec<TreeNode>,
    /// `(target, weight)` of every leaf, leaf after leaf.
    weights: Vec<(usize, f32)>,
    /// The root node of each tree.
    roots: Vec<usize>,
    targets: usize,
    base: Vec<f32>,
    average: bool,
    /// The highest feature index a branch reads.
    max_feature: usize,
}

pub(super) fn regressor(node: &NodeProto) -> TractResult<Arc<dyn Kernel>> {
    let attrs = Attrs(node);
    let (average, targets) = aggregation(&attrs)?;
    let tree_ids = attrs.ints("nodes_treeids");
    let node_ids = attrs.ints("nodes_nodeids");
    let features = attrs.indices("nodes_featureids")?;
    let modes = attrs.strings("nodes_modes");
    let thresholds = attrs.floats("nodes_values");
    let yes = attrs.ints("nodes_truenodeids");
    let no = attrs.ints("nodes_falsenodeids");
    let n = tree_ids.len();
    ensure!(n > 0, "no nodes");
    for (name, len) in [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", features.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", thresholds.len()),
        ("nodes_truenodeids", yes.len()),
        ("nodes_falsenodeids", no.len()),
    ] {
        ensure!(len == n, "{name} has {len} values for {n} nodes");
    }
    let nan_is_yes = attrs.ints("nodes_missing_value_tracks_true");
    ensure!(
        nan_is_yes.is_empty() || nan_is_yes.len() == n,
        "nodes_missing_value_tracks_true has {} values for {n} nodes",
        nan_is_yes.len()
    );

    let index: HashMap<(i64, i64), usize> = tree_ids
        .iter()
        .zip(&node_ids)
        .enumerate()
        .map(|(i, (&t, &id))| ((t, id), i))
        .collect();
    ensure!(index.len() == n, "a (tree, node) id appears twice");
    let child = |tree: i64, id: i64| {
        index
            .get(&(tree, id))
            .copied()
            .with_context(|| format!("tree {tree} has no node {id}"))
    };

    let mut per_leaf = leaf_weights(&attrs, targets, &child)?;
    let m = per_leaf.values().map(Vec::len).sum();

    let mut nodes = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(m);
    let mut roots = Vec::new();
    let mut max_feature = 0;
    for i in 0..n {
        // A tree starts where its id first appears, as in onnxruntime.
        if i == 0 || tree_ids[i] != tree_ids[i - 1] {
            roots.push(i);
        }
        let cmp = match modes[i].as_str() {
            "LEAF" => {
                let start = weights.len();
                weights.extend(per_leaf.remove(&i).unwrap_or_default());
                nodes.push(TreeNode::Leaf {
                    start,
                    end: weights.len(),
                });
                continue;
            }
            "BRANCH_LEQ" => Cmp::Leq,
            "BRANCH_LT" => Cmp::Lt,
            "BRANCH_GTE" => Cmp::Gte,
            "BRANCH_GT" => Cmp::Gt,
            "BRANCH_EQ" => Cmp::Eq,
            "BRANCH_NEQ" => Cmp::Neq,
            other => bail!("node mode {other} is not supported"),
        };
        max_feature = max_feature.max(features[i]);
        nodes.push(TreeNode::Branch {
            cmp,
            feature: features[i],
            threshold: thresholds[i],
            yes: child(tree_ids[i], yes[i])?,
            no: child(tree_ids[i], no[i])?,
            nan_is_yes: nan_is_yes.get(i).is_some_and(|&v| v != 0),
        });
    }
    ensure!(
        per_leaf.is_empty(),
        "a target weight belongs to a node that is not a leaf"
    );
    let base = attrs.floats("base_values");
    ensure!(
        base.is_empty() || base.len() == targets,
        "base_values has {} values for {targets} targets",
        base.len()
    );
    Ok(Arc::new(Regressor {
        nodes,
        weights,
        roots,
        targets,
        base,
        average,
        max_feature,
    }))
}

/// How the trees' scores combine (`true` for AVERAGE) and how many
/// targets each row has; the attributes the evaluator does not read are
/// refused here.
fn aggregation(attrs: &Attrs) -> TractResult<(bool, usize)> {
    ensure!(
        !attrs.has("nodes_values_as_tensor"),
        "double-precision thresholds (nodes_values_as_tensor) are not supported"
    );
    ensure!(
        Post::parse(attrs)? == Post::None,
        "only post_transform NONE is supported"
    );
    let average = match attrs.string("aggregate_function").as_deref() {
        None | Some("SUM") => false,
        Some("AVERAGE") => true,
        Some(other) => bail!("aggregate_function {other} is not supported"),
    };
    let targets = usize::try_from(attrs.int("n_targets").unwrap_or(1))
        .ok()
        .filter(|&t| t > 0)
        .context("n_targets must be positive")?;
    Ok((average, targets))
}

/// `(target, weight)` pairs by the node index of their leaf.
type LeafWeights = HashMap<usize, Vec<(usize, f32)>>;

/// Leaf weights, grouped by leaf.
fn leaf_weights(
    attrs: &Attrs,
    targets: usize,
    child: &dyn Fn(i64, i64) -> TractResult<usize>,
) -> TractResult<LeafWeights> {
    let target_tree = attrs.ints("target_treeids");
    let target_node = attrs.ints("target_nodeids");
    let target_ids = attrs.indices("target_ids")?;
    let target_weights = attrs.floats("target_weights");
    let m = target_ids.len();
    for (name, len) in [
        ("target_treeids", target_tree.len()),
        ("target_nodeids", target_node.len()),
        ("target_weights", target_weights.len()),
    ] {
        ensure!(len == m, "{name} has {len} values for {m} weights");
    }
    let mut per_leaf = LeafWeights::new();
    for i in 0..m {
        ensure!(
            target_ids[i] < targets,
            "target id {} with n_targets {targets}",
            target_ids[i]
        );
        let leaf = child(target_tree[i], target_node[i])?;
        per_leaf
            .entry(leaf)
            .or_default()
            .push((target_ids[i], target_weights[i]));
    }
    Ok(per_leaf)
}

impl Regressor {
    /// The leaf a row reaches from `root`; an error if the walk loops.
    fn leaf(&self, root: usize, x: &[f32]) -> TractResult<(usize, usize)> {
        let mut at = root;
        for _ in 0..=self.nodes.len() {
            match self.nodes[at] {
                TreeNode::Leaf { start, end } => return Ok((start, end)),
                TreeNode::Branch {
                    cmp,
                    feature,
                    threshold,
                    yes,
                    no,
                    nan_is_yes,
                } => {
                    let v = x[feature];
                    let hit = match cmp {
                        Cmp::Leq => v <= threshold,
                        Cmp::Lt => v < threshold,
                        Cmp::Gte => v >= threshold,
                        Cmp::Gt => v > threshold,
                        Cmp::Eq => v == threshold,
                        Cmp::Neq => v != threshold,
                    } || (nan_is_yes && v.is_nan());
                    at = if hit { yes } else { no };
                }
            }
        }
        bail!("a tree of the ensemble loops")
    }
}

impl Kernel for Regressor {
    fn name(&self) -> &'static str {
        "TreeEnsembleRegressor"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        super::regressor_rules(s, inputs, outputs, self.targets)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&[
            inputs[0].shape[0].clone(),
            self.targets.into()
        ])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, n, width) = rows_f32(&inputs[0])?;
        ensure!(
            width > self.max_feature,
            "the input has {width} features, the trees read feature {}",
            self.max_feature
        );
        let x = slice::<f32>(&x)?;
        let t = self.targets;
        let mut out = vec![0f32; n * t];
        for (row, scores) in x.chunks_exact(width).zip(out.chunks_exact_mut(t)) {
            for &root in &self.roots {
                let (start, end) = self.leaf(root, row)?;
                for &(target, w) in &self.weights[start..end] {
                    scores[target] += w;
                }
            }
            for (i, s) in scores.iter_mut().enumerate() {
                if self.average {
                    *s /= self.roots.len() as f32;
                }
                *s += self.base.get(i).copied().unwrap_or(0.0);
            }
        }
        Ok(tvec!(tensor(&[n, t], out)?))
    }
}

//! The trees of an ensemble, flattened once when the graph loads: branch
//! nodes packed in 16 bytes (feature and flags, threshold, two children),
//! leaf weights in one array with each leaf's range. A walk is a tight loop
//! over that array; nothing is allocated and no error is built per row.

use std::collections::HashMap;

use tract_onnx::tract_hir::internal::*;

use super::super::Attrs;

/// A child reference with this bit set is a leaf index, else a node index.
const LEAF: u32 = 1 << 31;
/// The feature index: the low 24 bits of [`Node::key`].
const FEATURE: u32 = (1 << 24) - 1;
/// The comparison: 3 bits above the feature index.
const MODE_SHIFT: u32 = 24;
/// A NaN feature takes the `yes` branch.
const NAN_YES: u32 = 1 << 27;

/// How a branch compares the feature with its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Cmp {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Cmp {
    fn parse(mode: &str) -> TractResult<Option<Cmp>> {
        Ok(Some(match mode {
            "LEAF" => return Ok(None),
            "BRANCH_LEQ" => Cmp::Leq,
            "BRANCH_LT" => Cmp::Lt,
            "BRANCH_GTE" => Cmp::Gte,
            "BRANCH_GT" => Cmp::Gt,
            "BRANCH_EQ" => Cmp::Eq,
            "BRANCH_NEQ" => Cmp::Neq,
            other => bail!("node mode {other} is not supported"),
        }))
    }
}

/// A branch node.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Feature index (low 24 bits), [`Cmp`] (3 bits) and [`NAN_YES`].
    key: u32,
    threshold: f32,
    /// The child when the comparison holds: a node index, or [`LEAF`] | a
    /// leaf index.
    yes: u32,
    /// The child otherwise.
    no: u32,
}

/// How one comparison mode decides a branch; monomorphised so that a walk
/// through trees of one mode (scikit-learn's `BRANCH_LEQ`) has no dispatch.
trait Compare {
    fn hit(key: u32, v: f32, threshold: f32) -> bool;
}

macro_rules! compare {
    ($name:ident, $op:tt) => {
        struct $name;
        impl Compare for $name {
            #[inline(always)]
            fn hit(_: u32, v: f32, t: f32) -> bool {
                v $op t
            }
        }
    };
}

compare!(Leq, <=);
compare!(Lt, <);
compare!(Gte, >=);
compare!(Gt, >);
compare!(Equal, ==);
compare!(NotEqual, !=);

/// Trees mixing modes: each node says its own.
struct Mixed;

impl Compare for Mixed {
    #[inline(always)]
    fn hit(key: u32, v: f32, t: f32) -> bool {
        match (key >> MODE_SHIFT) & 7 {
            0 => v <= t,
            1 => v < t,
            2 => v >= t,
            3 => v > t,
            4 => v == t,
            _ => v != t,
        }
    }
}

/// One `(output column, weight)` pair of a leaf.
#[derive(Clone, Copy, Debug)]
pub(super) struct Weight {
    /// The target (regressor) or class (classifier) index.
    pub(super) column: u32,
    /// Its weight.
    pub(super) value: f32,
}

/// The flattened trees of a `TreeEnsembleRegressor` or
/// `TreeEnsembleClassifier`.
#[derive(Debug)]
pub(super) struct Ensemble {
    nodes: Vec<Node>,
    /// The root of each tree, a child reference.
    roots: Vec<u32>,
    /// Leaf `l`'s weights are `weights[starts[l]..starts[l + 1]]`.
    starts: Vec<u32>,
    weights: Vec<Weight>,
    /// The comparison every branch makes, if they all make the same.
    same: Option<Cmp>,
    /// Whether any branch sends NaN to its `yes` child.
    nan_yes: bool,
    /// The number of features a row needs (the highest index read + 1).
    pub(super) width: usize,
}

/// Node attributes: `nodes_*`, then the leaf weights under `prefix`
/// (`target_` for a regressor, `class_` for a classifier).
struct Raw {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    features: Vec<usize>,
    modes: Vec<Option<Cmp>>,
    thresholds: Vec<f32>,
    yes: Vec<i64>,
    no: Vec<i64>,
    nan_yes: Vec<i64>,
}

impl Raw {
    fn read(attrs: &Attrs) -> TractResult<Raw> {
        for name in [
            "nodes_values_as_tensor",
            "nodes_hitrates_as_tensor",
            "base_values_as_tensor",
            "target_weights_as_tensor",
            "class_weights_as_tensor",
        ] {
            ensure!(
                !attrs.has(name),
                "double-precision attributes ({name}) are not supported"
            );
        }
        let tree_ids = attrs.ints("nodes_treeids");
        let n = tree_ids.len();
        ensure!(n > 0, "no nodes");
        let raw = Raw {
            tree_ids,
            node_ids: attrs.ints("nodes_nodeids"),
            features: attrs.indices("nodes_featureids")?,
            modes: attrs
                .strings("nodes_modes")
                .iter()
                .map(|m| Cmp::parse(m))
                .collect::<TractResult<_>>()?,
            thresholds: attrs.floats("nodes_values"),
            yes: attrs.ints("nodes_truenodeids"),
            no: attrs.ints("nodes_falsenodeids"),
            nan_yes: attrs.ints("nodes_missing_value_tracks_true"),
        };
        for (name, len) in [
            ("nodes_nodeids", raw.node_ids.len()),
            ("nodes_featureids", raw.features.len()),
            ("nodes_modes", raw.modes.len()),
            ("nodes_values", raw.thresholds.len()),
            ("nodes_truenodeids", raw.yes.len()),
            ("nodes_falsenodeids", raw.no.len()),
        ] {
            ensure!(len == n, "{name} has {len} values for {n} nodes");
        }
        ensure!(
            raw.nan_yes.is_empty() || raw.nan_yes.len() == n,
            "nodes_missing_value_tracks_true has {} values for {n} nodes",
            raw.nan_yes.len()
        );
        ensure!(n < LEAF as usize, "too many nodes ({n})");
        Ok(raw)
    }
}

impl Ensemble {
    /// Reads and checks the trees: every child exists in its tree, no
    /// branch leads back to itself, every leaf has weights (as onnxruntime
    /// requires), every weight's column is below `columns`. Weights on
    /// branch nodes are ignored, as onnxruntime does.
    pub(super) fn parse(attrs: &Attrs, prefix: &str, columns: usize) -> TractResult<Ensemble> {
        let raw = Raw::read(attrs)?;
        let n = raw.tree_ids.len();
        let mut index = HashMap::with_capacity(n);
        for (i, key) in raw.tree_ids.iter().zip(&raw.node_ids).enumerate() {
            if index.insert(key, i).is_some() {
                bail!("node {} appears twice in tree {}", key.1, key.0);
            }
        }
        let find = |tree: &i64, id: &i64| {
            index
                .get(&(tree, id))
                .copied()
                .with_context(|| format!("tree {tree} has no node {id}"))
        };

        // Compact indices: branches count among the nodes, leaves among
        // the leaves, each in the order of the attributes.
        let mut compact = Vec::with_capacity(n);
        let (mut branches, mut leaves) = (0u32, 0u32);
        for mode in &raw.modes {
            compact.push(match mode {
                Some(_) => {
                    branches += 1;
                    branches - 1
                }
                None => {
                    leaves += 1;
                    LEAF | (leaves - 1)
                }
            });
        }
        let (weights, starts) = leaf_weights(attrs, prefix, columns, &raw, &compact, &find)?;

        let mut nodes = Vec::with_capacity(branches as usize);
        let mut children = vec![(usize::MAX, usize::MAX); n];
        let (mut width, mut nan_yes) = (0, false);
        let first = raw.modes.iter().flatten().next().copied();
        let mut same = first;
        for (i, slot) in children.iter_mut().enumerate() {
            let Some(cmp) = raw.modes[i] else { continue };
            let tree = &raw.tree_ids[i];
            let (yes, no) = (find(tree, &raw.yes[i])?, find(tree, &raw.no[i])?);
            ensure!(
                yes != i && no != i,
                "node {} of tree {tree} points to itself",
                raw.node_ids[i]
            );
            *slot = (yes, no);
            let feature = raw.features[i];
            ensure!(
                feature < FEATURE as usize,
                "feature index {feature} is too large"
            );
            let nan = raw.nan_yes.get(i).is_some_and(|&v| v == 1);
            nan_yes |= nan;
            width = width.max(feature + 1);
            if Some(cmp) != first {
                same = None;
            }
            nodes.push(Node {
                key: feature as u32 | (cmp as u32) << MODE_SHIFT | if nan { NAN_YES } else { 0 },
                threshold: raw.thresholds[i],
                yes: compact[yes],
                no: compact[no],
            });
        }
        check_acyclic(&children, &raw)?;
        // A tree starts where its id first differs from the previous node's,
        // as in onnxruntime (which also counts the trees that way).
        let roots = (0..n)
            .filter(|&i| i == 0 || raw.tree_ids[i] != raw.tree_ids[i - 1])
            .map(|i| compact[i])
            .collect();
        Ok(Ensemble {
            nodes,
            roots,
            starts,
            weights,
            same,
            nan_yes,
            width,
        })
    }

    /// The number of trees.
    pub(super) fn trees(&self) -> usize {
        self.roots.len()
    }

    /// The weights of leaf `leaf`.
    #[inline(always)]
    pub(super) fn weights(&self, leaf: u32) -> &[Weight] {
        let l = leaf as usize;
        match (self.starts.get(l), self.starts.get(l + 1)) {
            (Some(&s), Some(&e)) => self.weights.get(s as usize..e as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Calls `f` with the leaf each tree sends `x` to, tree after tree.
    /// `x` must have at least [`Ensemble::width`] values (a missing one
    /// reads as NaN).
    #[inline]
    pub(super) fn for_each_leaf(&self, x: &[f32], f: impl FnMut(u32)) {
        match (self.same, self.nan_yes) {
            (Some(Cmp::Leq), false) => self.each::<Leq, false>(x, f),
            (Some(Cmp::Leq), true) => self.each::<Leq, true>(x, f),
            (Some(Cmp::Lt), false) => self.each::<Lt, false>(x, f),
            (Some(Cmp::Lt), true) => self.each::<Lt, true>(x, f),
            (Some(Cmp::Gte), false) => self.each::<Gte, false>(x, f),
            (Some(Cmp::Gte), true) => self.each::<Gte, true>(x, f),
            (Some(Cmp::Gt), false) => self.each::<Gt, false>(x, f),
            (Some(Cmp::Gt), true) => self.each::<Gt, true>(x, f),
            (Some(Cmp::Eq), false) => self.each::<Equal, false>(x, f),
            (Some(Cmp::Eq), true) => self.each::<Equal, true>(x, f),
            (Some(Cmp::Neq), false) => self.each::<NotEqual, false>(x, f),
            (Some(Cmp::Neq), true) => self.each::<NotEqual, true>(x, f),
            (None, false) => self.each::<Mixed, false>(x, f),
            (None, true) => self.each::<Mixed, true>(x, f),
        }
    }

    #[inline(always)]
    fn each<C: Compare, const NAN: bool>(&self, x: &[f32], mut f: impl FnMut(u32)) {
        for &root in &self.roots {
            f(self.walk::<C, NAN>(root, x));
        }
    }

    /// The leaf a tree sends `x` to. The trees were checked to be acyclic
    /// and their children to exist, so the loop ends at a leaf.
    #[inline(always)]
    fn walk<C: Compare, const NAN: bool>(&self, mut at: u32, x: &[f32]) -> u32 {
        while at & LEAF == 0 {
            let Some(n) = self.nodes.get(at as usize) else {
                return 0;
            };
            let v = x
                .get((n.key & FEATURE) as usize)
                .copied()
                .unwrap_or(f32::NAN);
            let hit = C::hit(n.key, v, n.threshold) || (NAN && n.key & NAN_YES != 0 && v.is_nan());
            at = if hit { n.yes } else { n.no };
        }
        at & !LEAF
    }
}

/// The weights of every leaf, leaf after leaf (each in the order of the
/// attributes, as onnxruntime keeps them), and the start of each leaf's
/// weights (one more entry than leaves).
fn leaf_weights(
    attrs: &Attrs,
    prefix: &str,
    columns: usize,
    raw: &Raw,
    compact: &[u32],
    find: &dyn Fn(&i64, &i64) -> TractResult<usize>,
) -> TractResult<(Vec<Weight>, Vec<u32>)> {
    let name = |s: &str| format!("{prefix}{s}");
    let trees = attrs.ints(&name("treeids"));
    let ids = attrs.ints(&name("nodeids"));
    let columns_of = attrs.indices(&name("ids"))?;
    let values = attrs.floats(&name("weights"));
    let m = columns_of.len();
    for (what, len) in [
        ("treeids", trees.len()),
        ("nodeids", ids.len()),
        ("weights", values.len()),
    ] {
        ensure!(len == m, "{prefix}{what} has {len} values for {m} weights");
    }
    let leaves = compact.iter().filter(|&&c| c & LEAF != 0).count();
    // Counting sort by leaf, stable: weights of a leaf keep their order.
    let mut leaf_of = Vec::with_capacity(m);
    let mut counts = vec![0u32; leaves + 1];
    for k in 0..m {
        let c = compact[find(&trees[k], &ids[k])?];
        if c & LEAF == 0 {
            leaf_of.push(None);
            continue;
        }
        ensure!(
            columns_of[k] < columns,
            "{prefix}ids has {} with {columns} columns",
            columns_of[k]
        );
        let leaf = (c & !LEAF) as usize;
        counts[leaf + 1] += 1;
        leaf_of.push(Some(leaf));
    }
    for l in 0..leaves {
        counts[l + 1] += counts[l];
    }
    let starts = counts.clone();
    let mut next = counts;
    let mut weights = vec![
        Weight {
            column: 0,
            value: 0.0
        };
        starts[leaves] as usize
    ];
    for (k, leaf) in leaf_of.into_iter().enumerate() {
        let Some(leaf) = leaf else { continue };
        weights[next[leaf] as usize] = Weight {
            column: columns_of[k] as u32,
            // -0.0 as +0.0: the sums start at -0.0 to mean "no score".
            value: if values[k] == 0.0 { 0.0 } else { values[k] },
        };
        next[leaf] += 1;
    }
    if let Some(l) = (0..leaves).find(|&l| starts[l] == starts[l + 1]) {
        let i = compact
            .iter()
            .position(|&c| c == LEAF | l as u32)
            .unwrap_or(0);
        bail!(
            "leaf {} of tree {} has no weight",
            raw.node_ids[i],
            raw.tree_ids[i]
        );
    }
    Ok((weights, starts))
}

/// Refuses trees whose branches lead back to a node already on the path
/// (an endless walk). Iterative depth-first search, so that deep trees do
/// not overflow the stack.
fn check_acyclic(children: &[(usize, usize)], raw: &Raw) -> TractResult<()> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; children.len()];
    let mut stack: Vec<(usize, u8)> = Vec::new();
    for start in 0..children.len() {
        if state[start] != State::New {
            continue;
        }
        stack.push((start, 0));
        state[start] = State::Open;
        while let Some(top) = stack.last_mut() {
            let (i, seen) = *top;
            let (yes, no) = children[i];
            let next = match seen {
                0 => yes,
                1 => no,
                _ => {
                    state[i] = State::Done;
                    stack.pop();
                    continue;
                }
            };
            top.1 += 1;
            // Leaves have no children (usize::MAX).
            let Some(s) = state.get(next).copied() else {
                continue;
            };
            match s {
                State::Open => bail!(
                    "tree {} loops: node {} leads back to node {}",
                    raw.tree_ids[i],
                    raw.node_ids[i],
                    raw.node_ids[next]
                ),
                State::New => {
                    state[next] = State::Open;
                    stack.push((next, 0));
                }
                State::Done => {}
            }
        }
    }
    Ok(())
}

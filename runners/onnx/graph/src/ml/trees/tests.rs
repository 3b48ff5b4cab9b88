//! The tree kernels on hand-made ensembles, against values computed by
//! hand (onnxruntime's formulas in single precision), and their errors:
//! refused when the graph loads, or a request error, never a panic.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, NodeProto};

use super::{classifier, regressor};
use crate::ml::tests::{attr, floats, floats_of, int, ints, node, rows, strings};

/// A leaf's votes: `(column, weight)`.
type Votes<'a> = &'a [(i64, f32)];

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..attr(name)
    }
}

/// Two stumps: tree 0 is `x[0] <= 0.5 ? a : b`, tree 1 `x[1] <= 0.5 ? c
/// : d`, with the votes of `[[a, b], [c, d]]` under `prefix` (`class_` or
/// `target_`), plus `extra` attributes.
fn stumps(
    op: &str,
    prefix: &str,
    leaves: [[Votes; 2]; 2],
    extra: Vec<AttributeProto>,
) -> NodeProto {
    let (mut trees, mut ids, mut columns, mut weights) = (vec![], vec![], vec![], vec![]);
    for (t, pair) in leaves.iter().enumerate() {
        for (l, votes) in pair.iter().enumerate() {
            for &(c, w) in *votes {
                trees.push(t as i64);
                ids.push(l as i64 + 1);
                columns.push(c);
                weights.push(w);
            }
        }
    }
    let p = |s: &str| format!("{prefix}{s}");
    let mut attribute = vec![
        ints("nodes_treeids", &[0, 0, 0, 1, 1, 1]),
        ints("nodes_nodeids", &[0, 1, 2, 0, 1, 2]),
        ints("nodes_featureids", &[0, 0, 0, 1, 0, 0]),
        strings(
            "nodes_modes",
            &["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
        ),
        floats("nodes_values", &[0.5, 0.0, 0.0, 0.5, 0.0, 0.0]),
        ints("nodes_truenodeids", &[1, 0, 0, 1, 0, 0]),
        ints("nodes_falsenodeids", &[2, 0, 0, 2, 0, 0]),
        ints(&p("treeids"), &trees),
        ints(&p("nodeids"), &ids),
        ints(&p("ids"), &columns),
        floats(&p("weights"), &weights),
    ];
    attribute.extend(extra);
    node(op, attribute)
}

/// Three classes (labels 10, 20, 30): row `[0, 0]` scores `[0.8, 0.4,
/// 0.3]`, row `[1, 1]` reaches only classes 1 and 2 (`[-, 0.5, 1.0]`).
fn three_classes(extra: Vec<AttributeProto>) -> NodeProto {
    let mut attrs = vec![ints("classlabels_int64s", &[10, 20, 30])];
    attrs.extend(extra);
    stumps(
        "TreeEnsembleClassifier",
        "class_",
        [
            [&[(0, 0.6), (1, 0.4)], &[(2, 1.0)]],
            [&[(0, 0.2), (2, 0.3)], &[(1, 0.5)]],
        ],
        attrs,
    )
}

/// Labels (as integers) and scores of a classifier on `rows` of two
/// features.
fn classify(node: &NodeProto, data: Vec<f32>) -> (Vec<i64>, Vec<f32>) {
    let k = classifier(node).unwrap();
    let n = data.len() / 2;
    let out = k.eval(rows(&[n, 2], data)).unwrap();
    let labels = out[0].try_as_plain_ram().unwrap();
    (
        labels.as_slice::<i64>().unwrap().to_vec(),
        floats_of(&out[1]),
    )
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn multiclass_scores_labels_and_base_values() {
    let (labels, scores) = classify(&three_classes(vec![]), vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
    assert_eq!(labels, [10, 30, 30]);
    // Row 3: class 0 from tree 1 only, class 1 from no tree (0).
    assert_close(&scores, &[0.8, 0.4, 0.3, 0.0, 0.5, 1.0, 0.2, 0.0, 1.3]);
    let based = three_classes(vec![floats("base_values", &[0.1, 0.2, 0.3])]);
    let (labels, scores) = classify(&based, vec![0.0, 0.0, 1.0, 1.0]);
    assert_eq!(labels, [10, 30]);
    assert_close(&scores, &[0.9, 0.6, 0.6, 0.1, 0.7, 1.3]);
}

#[test]
fn multiclass_post_transforms() {
    let with = |post: &str, x: Vec<f32>| {
        classify(&three_classes(vec![string("post_transform", post)]), x).1
    };
    let x = || vec![0.0, 0.0];
    assert_close(&with("NONE", x()), &[0.8, 0.4, 0.3]);
    assert_close(&with("LOGISTIC", x()), &[0.6899745, 0.59868765, 0.5744425]);
    assert_close(&with("SOFTMAX", x()), &[0.43920314, 0.29440668, 0.26639017]);
    // SOFTMAX_ZERO leaves the class no tree reached at 0.
    assert_close(
        &with("SOFTMAX_ZERO", vec![1.0, 1.0]),
        &[0.0, 0.37754068, 0.62245935],
    );
    // onnxruntime's approximation of the normal quantile, not the exact
    // one (0.8416212, -0.2533471, -0.5244005).
    assert_close(&with("PROBIT", x()), &[0.8417561, -0.2533535, -0.5244459]);
}

#[test]
fn a_class_no_leaf_reached_cannot_win() {
    // One tree, every leaf votes -1 for class 1 only: classes 0 and 2 read
    // 0 but were never reached, so class 1 wins.
    let node = stumps(
        "TreeEnsembleClassifier",
        "class_",
        [[&[(1, -1.0)], &[(1, -1.0)]], [&[(1, -1.0)], &[(1, -1.0)]]],
        vec![ints("classlabels_int64s", &[0, 1, 2])],
    );
    let (labels, scores) = classify(&node, vec![0.0, 0.0]);
    assert_eq!(labels, [1]);
    assert_close(&scores, &[0.0, -2.0, 0.0]);
}

/// Gradient boosting as skl2onnx exports it: every leaf votes for class 0
/// with weights of both signs, one base value (0.25). Row `[0, 0]` scores
/// `0.5 + 0.25 + 0.25 = 1`, row `[1, 1]` `-1 - 0.5 + 0.25 = -1.25`.
fn boosting(labels: AttributeProto, post: &str) -> NodeProto {
    stumps(
        "TreeEnsembleClassifier",
        "class_",
        [[&[(0, 0.5)], &[(0, -1.0)]], [&[(0, 0.25)], &[(0, -0.5)]]],
        vec![
            labels,
            floats("base_values", &[0.25]),
            string("post_transform", post),
        ],
    )
}

#[test]
fn binary_with_one_score_column() {
    let x = || vec![0.0, 0.0, 1.0, 1.0];
    let (labels, scores) = classify(
        &boosting(ints("classlabels_int64s", &[3, 7]), "LOGISTIC"),
        x(),
    );
    assert_eq!(labels, [7, 3]);
    assert_close(&scores, &[0.2689414, 0.7310586, 0.7772999, 0.22270012]);
    let (labels, scores) = classify(&boosting(ints("classlabels_int64s", &[3, 7]), "NONE"), x());
    assert_eq!(labels, [7, 3]);
    assert_close(&scores, &[-1.0, 1.0, 1.25, -1.25]);

    // String labels.
    let k = classifier(&boosting(
        strings("classlabels_strings", &["no", "yes"]),
        "LOGISTIC",
    ))
    .unwrap();
    let out = k.eval(rows(&[2, 2], x())).unwrap();
    let labels = out[0].try_as_plain_ram().unwrap();
    assert_eq!(labels.as_slice::<String>().unwrap(), ["yes", "no"]);
    assert_close(
        &floats_of(&out[1]),
        &[0.2689414, 0.7310586, 0.7772999, 0.22270012],
    );

    // All weights positive: `[1 - s, s]`, the label is `s > 0.5`.
    let positive = stumps(
        "TreeEnsembleClassifier",
        "class_",
        [[&[(0, 0.5)], &[(0, 0.1)]], [&[(0, 0.25)], &[(0, 0.1)]]],
        vec![ints("classlabels_int64s", &[0, 1])],
    );
    let (labels, scores) = classify(&positive, x());
    assert_eq!(labels, [1, 0]);
    assert_close(&scores, &[0.25, 0.75, 0.8, 0.2]);
}

#[test]
fn binary_with_two_score_columns() {
    // A random forest: both classes voted at every leaf.
    let forest = stumps(
        "TreeEnsembleClassifier",
        "class_",
        [
            [&[(0, 0.4), (1, 0.1)], &[(0, 0.05), (1, 0.45)]],
            [&[(0, 0.3), (1, 0.2)], &[(0, 0.1), (1, 0.4)]],
        ],
        vec![strings("classlabels_strings", &["a", "b"])],
    );
    let k = classifier(&forest).unwrap();
    let out = k.eval(rows(&[2, 2], vec![0.0, 0.0, 1.0, 1.0])).unwrap();
    let labels = out[0].try_as_plain_ram().unwrap();
    // onnxruntime's label here is "the second class scored above 0".
    assert_eq!(labels.as_slice::<String>().unwrap(), ["b", "b"]);
    assert_close(&floats_of(&out[1]), &[0.7, 0.3, 0.15, 0.85]);
}

#[test]
fn classifiers_refuse_what_they_cannot_read() {
    let error = |node: NodeProto| format!("{}", classifier(&node).unwrap_err());
    let mut two_kinds = three_classes(vec![strings("classlabels_strings", &["a", "b", "c"])]);
    assert!(error(two_kinds.clone()).contains("exactly one of"));
    two_kinds
        .attribute
        .retain(|a| !a.name.starts_with("classlabels"));
    assert!(error(two_kinds).contains("exactly one of"));
    let one = stumps(
        "TreeEnsembleClassifier",
        "class_",
        [[&[(0, 1.0)], &[(0, 1.0)]], [&[(0, 1.0)], &[(0, 1.0)]]],
        vec![ints("classlabels_int64s", &[5])],
    );
    assert!(error(one).contains("at least two"));
    let wide = stumps(
        "TreeEnsembleClassifier",
        "class_",
        [[&[(3, 1.0)], &[(0, 1.0)]], [&[(0, 1.0)], &[(0, 1.0)]]],
        vec![ints("classlabels_int64s", &[0, 1, 2])],
    );
    assert!(error(wide).contains("class_ids has 3 with 3 columns"));
    let bare = stumps(
        "TreeEnsembleClassifier",
        "class_",
        [[&[(0, 1.0)], &[]], [&[(0, 1.0)], &[(0, 1.0)]]],
        vec![ints("classlabels_int64s", &[0, 1, 2])],
    );
    assert!(error(bare).contains("leaf 2 of tree 0 has no weight"));
    let replace = |name: &str, value: AttributeProto| {
        let mut n = three_classes(vec![]);
        n.attribute.retain(|a| a.name != name);
        n.attribute.push(value);
        error(n)
    };
    // Node 1 of tree 0 sends both ways to node 0: a loop.
    let e = replace(
        "nodes_modes",
        strings(
            "nodes_modes",
            &[
                "BRANCH_LEQ",
                "BRANCH_LT",
                "LEAF",
                "BRANCH_LEQ",
                "LEAF",
                "LEAF",
            ],
        ),
    );
    assert!(e.contains("tree 0 loops"), "{e}");
    let e = replace(
        "nodes_falsenodeids",
        ints("nodes_falsenodeids", &[9, 0, 0, 2, 0, 0]),
    );
    assert!(e.contains("tree 0 has no node 9"), "{e}");
    let e = replace(
        "nodes_modes",
        strings(
            "nodes_modes",
            &["BRANCH_XX", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
        ),
    );
    assert!(e.contains("node mode BRANCH_XX is not supported"), "{e}");
    let e = replace("nodes_values", floats("nodes_values", &[0.5]));
    assert!(e.contains("nodes_values has 1 values for 6 nodes"), "{e}");
    let e = replace("post_transform", string("post_transform", "CUBE"));
    assert!(e.contains("post_transform CUBE"), "{e}");
    let e = replace("nodes_values_as_tensor", attr("nodes_values_as_tensor"));
    assert!(e.contains("double-precision"), "{e}");
}

#[test]
fn bad_inputs_are_errors_and_nan_follows_its_flag() {
    let k = classifier(&three_classes(vec![])).unwrap();
    // Too narrow, wrong rank: errors.
    let e = k.eval(rows(&[2, 1], vec![0.0, 0.0])).unwrap_err();
    assert!(format!("{e}").contains("the trees read feature 1"), "{e}");
    assert!(k.eval(rows(&[1, 1, 2], vec![0.0, 0.0])).is_err());
    // No rows: empty outputs.
    let out = k.eval(rows(&[0, 2], vec![])).unwrap();
    assert_eq!(out[1].shape(), [0, 3]);
    // Wider rows are fine; NaN takes the `no` branch without the flag, the
    // `yes` branch with it.
    let (labels, scores) = classify(&three_classes(vec![]), vec![f32::NAN, f32::NAN]);
    assert_eq!(labels, [30]);
    assert_close(&scores, &[0.0, 0.5, 1.0]);
    let nan_yes = three_classes(vec![ints(
        "nodes_missing_value_tracks_true",
        &[1, 0, 0, 1, 0, 0],
    )]);
    let (labels, scores) = classify(&nan_yes, vec![f32::NAN, f32::NAN]);
    assert_eq!(labels, [10]);
    assert_close(&scores, &[0.8, 0.4, 0.3]);
    let wide = k.eval(rows(&[1, 3], vec![0.0, 0.0, 9.0])).unwrap();
    assert_close(&floats_of(&wide[1]), &[0.8, 0.4, 0.3]);
}

#[test]
fn every_branch_mode() {
    // Tree 0 splits on x[0] against 0.5 with each mode in turn; leaf 1
    // (yes) votes 1, leaf 2 (no) votes 2.
    for (mode, yes_at) in [
        ("BRANCH_LEQ", [true, true, false]),
        ("BRANCH_LT", [true, false, false]),
        ("BRANCH_GTE", [false, true, true]),
        ("BRANCH_GT", [false, false, true]),
        ("BRANCH_EQ", [false, true, false]),
        ("BRANCH_NEQ", [true, false, true]),
    ] {
        // Tree 1 keeps BRANCH_LEQ, so the modes are mixed but for LEQ.
        let mut n = stumps(
            "TreeEnsembleRegressor",
            "target_",
            [[&[(0, 1.0)], &[(0, 2.0)]], [&[(0, 0.0)], &[(0, 0.0)]]],
            vec![int("n_targets", 1)],
        );
        n.attribute.retain(|a| a.name != "nodes_modes");
        n.attribute.push(strings(
            "nodes_modes",
            &[mode, "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
        ));
        let k = regressor(&n).unwrap();
        let out = k
            .eval(rows(&[3, 2], vec![0.0, 0.0, 0.5, 0.0, 1.0, 0.0]))
            .unwrap();
        let want: Vec<f32> = yes_at.iter().map(|&y| if y { 1.0 } else { 2.0 }).collect();
        assert_eq!(floats_of(&out[0]), want, "{mode}");
    }
}

#[test]
fn regressors_average_add_base_values_and_transform() {
    let one = |extra: Vec<AttributeProto>| {
        let mut attrs = vec![int("n_targets", 1)];
        attrs.extend(extra);
        let n = stumps(
            "TreeEnsembleRegressor",
            "target_",
            [[&[(0, 1.0)], &[(0, 2.0)]], [&[(0, 0.5)], &[(0, 4.0)]]],
            attrs,
        );
        let out = regressor(&n)
            .unwrap()
            .eval(rows(&[2, 2], vec![0.0, 0.0, 1.0, 1.0]))
            .unwrap();
        floats_of(&out[0])
    };
    assert_close(&one(vec![]), &[1.5, 6.0]);
    assert_close(&one(vec![floats("base_values", &[10.0])]), &[11.5, 16.0]);
    let average = string("aggregate_function", "AVERAGE");
    assert_close(
        &one(vec![average.clone(), floats("base_values", &[1.0])]),
        &[1.75, 4.0],
    );
    // One target: onnxruntime applies PROBIT only.
    assert_close(
        &one(vec![string("post_transform", "LOGISTIC")]),
        &[1.5, 6.0],
    );
    let probit = one(vec![
        average,
        floats("base_values", &[-0.7]),
        string("post_transform", "PROBIT"),
    ]);
    // (0.75 - 0.7, 3 - 0.7): 0.05 -> about -1.645; 2.3 is out of (0, 1): NaN.
    assert!((probit[0] + 1.6449).abs() < 2e-3, "{probit:?}");
    assert!(probit[1].is_nan());

    // Two targets: each leaf votes for its own; SOFTMAX over the row.
    let two = stumps(
        "TreeEnsembleRegressor",
        "target_",
        [
            [&[(0, 0.8), (1, 0.4)], &[(1, 1.0)]],
            [&[(0, 0.0)], &[(1, 0.5)]],
        ],
        vec![int("n_targets", 2), string("post_transform", "SOFTMAX")],
    );
    let out = regressor(&two)
        .unwrap()
        .eval(rows(&[2, 2], vec![0.0, 0.0, 1.0, 1.0]))
        .unwrap();
    // Row 1: softmax(0.8, 0.4); row 2: target 0 never reached reads 0.
    let e = (-0.4f32).exp();
    let f = (-1.5f32).exp();
    assert_close(
        &floats_of(&out[0]),
        &[
            1.0 / (1.0 + e),
            e / (1.0 + e),
            f / (1.0 + f),
            1.0 / (1.0 + f),
        ],
    );
}

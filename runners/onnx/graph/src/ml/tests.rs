//! The kernels on hand-made nodes: results, and errors (never panics) on
//! attributes or inputs they cannot take.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, NodeProto};
use tract_onnx::tract_hir::internal::*;

use super::{encoders, svm, trees};

pub(super) fn attr(name: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ..AttributeProto::default()
    }
}

pub(super) fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..attr(name)
    }
}

pub(super) fn floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto {
        r#type: AttributeType::Floats as i32,
        floats: v.to_vec(),
        ..attr(name)
    }
}

pub(super) fn strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        r#type: AttributeType::Strings as i32,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..attr(name)
    }
}

pub(super) fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        r#type: AttributeType::Int as i32,
        i: v,
        ..attr(name)
    }
}

pub(super) fn node(op: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        attribute,
        ..NodeProto::default()
    }
}

pub(super) fn rows(shape: &[usize], data: Vec<f32>) -> TVec<TValue> {
    tvec!(
        tract_ndarray::ArrayD::from_shape_vec(shape, data)
            .unwrap()
            .into_tvalue()
    )
}

pub(super) fn floats_of(v: &TValue) -> Vec<f32> {
    v.try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec()
}

/// One tree: `x[1] <= 0.5 ? 10 : 20`, plus a base value of 1, averaged
/// over its one tree.
fn stump(yes: i64) -> NodeProto {
    node(
        "TreeEnsembleRegressor",
        vec![
            ints("nodes_treeids", &[0, 0, 0]),
            ints("nodes_nodeids", &[0, 1, 2]),
            ints("nodes_featureids", &[1, 0, 0]),
            strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
            floats("nodes_values", &[0.5, 0.0, 0.0]),
            ints("nodes_truenodeids", &[yes, 0, 0]),
            ints("nodes_falsenodeids", &[2, 0, 0]),
            ints("nodes_missing_value_tracks_true", &[1, 0, 0]),
            ints("target_treeids", &[0, 0]),
            ints("target_nodeids", &[1, 2]),
            ints("target_ids", &[0, 0]),
            floats("target_weights", &[10.0, 20.0]),
            floats("base_values", &[1.0]),
            int("n_targets", 1),
        ],
    )
}

#[test]
fn a_tree_regressor_walks_and_refuses_what_it_cannot_read() {
    let k = trees::regressor(&stump(1)).unwrap();
    let out = k
        .eval(rows(&[3, 2], vec![0.0, 0.4, 0.0, 0.6, 0.0, f32::NAN]))
        .unwrap();
    assert_eq!(floats_of(&out[0]), [11.0, 21.0, 11.0]);
    // Too few features for the trees: an error, not an out-of-bounds read.
    let e = k.eval(rows(&[1, 1], vec![0.0])).unwrap_err();
    assert!(format!("{e}").contains("feature 1"), "{e}");
    // A tree whose branch points at itself would loop: refused when the
    // graph loads.
    let e = trees::regressor(&stump(0)).unwrap_err();
    assert!(format!("{e}").contains("points to itself"), "{e}");
    // A child that does not exist: refused when the graph loads.
    assert!(trees::regressor(&stump(7)).is_err());
    let mut min = stump(1);
    min.attribute.push(AttributeProto {
        r#type: AttributeType::String as i32,
        s: b"MIN".to_vec(),
        ..attr("aggregate_function")
    });
    assert!(trees::regressor(&min).is_err());
}

#[test]
fn svms_check_the_input_width() {
    let linear = node(
        "SVMRegressor",
        vec![floats("coefficients", &[1.0, 2.0]), floats("rho", &[0.5])],
    );
    let k = svm::regressor(&linear).unwrap();
    let out = k.eval(rows(&[1, 2], vec![1.0, 1.0])).unwrap();
    assert_eq!(floats_of(&out[0]), [3.5]);
    assert!(k.eval(rows(&[1, 3], vec![1.0, 1.0, 1.0])).is_err());
    // Support vectors that do not divide into n_supports rows.
    let bad = node(
        "SVMRegressor",
        vec![
            int("n_supports", 2),
            floats("support_vectors", &[1.0, 2.0, 3.0]),
            floats("coefficients", &[1.0, 1.0]),
            floats("rho", &[0.0]),
        ],
    );
    assert!(svm::regressor(&bad).is_err());
    let classifier = node(
        "SVMClassifier",
        vec![
            ints("classlabels_ints", &[0, 1]),
            ints("vectors_per_class", &[1, 1]),
            floats("support_vectors", &[0.0, 1.0]),
            floats("coefficients", &[1.0, -1.0]),
            floats("rho", &[0.0]),
        ],
    );
    let k = svm::classifier(&classifier).unwrap();
    assert!(k.eval(rows(&[1, 2], vec![0.0, 0.0])).is_err());
    let out = k.eval(rows(&[2, 1], vec![-1.0, 2.0])).unwrap();
    // Linear kernel: decision = x * 0 - x * 1, positive votes for class 0.
    let labels = out[0].try_as_plain_ram().unwrap();
    assert_eq!(labels.as_slice::<i64>().unwrap(), [0, 1]);
    assert_eq!(floats_of(&out[1]), [-1.0, 1.0, 2.0, -2.0]);
}

#[test]
fn encoders_map_and_default() {
    let one_hot = node(
        "OneHotEncoder",
        vec![strings("cats_strings", &["a", "b"]), int("zeros", 0)],
    );
    let k = encoders::one_hot_encoder(&one_hot).unwrap();
    let input = |v: &[&str]| {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        tvec!(
            tract_ndarray::ArrayD::from_shape_vec(vec![v.len(), 1], v)
                .unwrap()
                .into_tvalue()
        )
    };
    let out = k.eval(input(&["b", "a"])).unwrap();
    assert_eq!(out[0].shape(), [2, 1, 2]);
    assert_eq!(floats_of(&out[0]), [0.0, 1.0, 1.0, 0.0]);
    let e = k.eval(input(&["c"])).unwrap_err();
    assert!(format!("{e}").contains("unknown category"), "{e}");

    let encoder = node(
        "LabelEncoder",
        vec![
            strings("keys_strings", &["x", "y"]),
            ints("values_int64s", &[5, 6]),
            int("default_int64", -7),
        ],
    );
    let k = encoders::label_encoder(&encoder).unwrap();
    let out = k.eval(input(&["y", "z"])).unwrap();
    let mapped = out[0].try_as_plain_ram().unwrap();
    assert_eq!(mapped.as_slice::<i64>().unwrap(), [6, -7]);
    // The wrong element type is an error.
    assert!(k.eval(rows(&[1, 1], vec![0.0])).is_err());
}

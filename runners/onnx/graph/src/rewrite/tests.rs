//! Tests of the rewrites, on hand-made nodes.

use super::*;

fn string(name: &str, value: &[u8]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::String as i32,
        s: value.to_vec(),
        ..AttributeProto::default()
    }
}

fn strings(name: &str, values: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Strings as i32,
        strings: values.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..AttributeProto::default()
    }
}

/// A one-score binary ensemble as skl2onnx writes one for gradient
/// boosting (every leaf votes for class 0, one base value), with string
/// labels.
fn ensemble() -> ModelProto {
    let node = NodeProto {
        op_type: "TreeEnsembleClassifier".into(),
        domain: ML.into(),
        name: "gb".into(),
        input: vec!["x".into()],
        output: vec!["label".into(), "probabilities".into()],
        attribute: vec![
            strings("classlabels_strings", &["no", "yes"]),
            ints("class_ids", vec![0, 0, 0]),
            string("post_transform", b"LOGISTIC"),
        ],
        ..NodeProto::default()
    };
    ModelProto {
        graph: Some(GraphProto {
            node: vec![node],
            ..GraphProto::default()
        }),
        ..ModelProto::default()
    }
}

/// Each node as `domain op name(inputs) -> outputs`.
fn nodes(graph: &GraphProto) -> Vec<String> {
    graph
        .node
        .iter()
        .map(|n| {
            format!(
                "{} {} {}({}) -> {}",
                n.domain,
                n.op_type,
                n.name,
                n.input.join(", "),
                n.output.join(", ")
            )
            .trim_start()
            .to_string()
        })
        .collect()
}

fn rewritten(mut model: ModelProto) -> GraphProto {
    rewrite(&mut model).expect("rewrite");
    model.graph.expect("graph")
}

#[test]
fn tree_classifiers_are_left_to_the_runners_kernel() {
    let model = ensemble();
    let before = model.graph.clone().expect("graph");
    let graph = rewritten(model);
    assert_eq!(graph, before);
    assert!(graph.initializer.is_empty());
}

#[test]
fn linear_classifier_string_labels_become_a_category_mapper() {
    let model = one_node(
        "LinearClassifier",
        &["x"],
        &["label", "scores"],
        vec![strings("classlabels_strings", &["a", "b", "c"])],
        &["label", "scores"],
    );
    let graph = rewritten(model);
    assert_eq!(
        nodes(&graph),
        [
            "ai.onnx.ml LinearClassifier n(x) -> label__index, scores",
            "ai.onnx.ml CategoryMapper n__labels(label__index) -> label",
        ]
    );
    assert_eq!(
        graph.node[0].attribute,
        [ints("classlabels_ints", vec![0, 1, 2])]
    );
    let mapper = &graph.node[1];
    assert_eq!(mapper.attribute[0], ints("cats_int64s", vec![0, 1, 2]));
    assert_eq!(
        mapper.attribute[1],
        strings("cats_strings", &["a", "b", "c"])
    );
    assert_eq!(mapper.attribute[2], string("default_string", b""));
}

/// A graph of one `ai.onnx.ml` node with the given graph outputs.
fn one_node(
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
    graph_outputs: &[&str],
) -> ModelProto {
    let node = NodeProto {
        op_type: op.into(),
        domain: ML.into(),
        name: "n".into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..NodeProto::default()
    };
    let output = graph_outputs
        .iter()
        .map(|name| tract_onnx::pb::ValueInfoProto {
            name: name.to_string(),
            r#type: Some(tract_onnx::pb::TypeProto::default()),
            ..Default::default()
        })
        .collect();
    ModelProto {
        graph: Some(GraphProto {
            node: vec![node],
            output,
            ..GraphProto::default()
        }),
        ..ModelProto::default()
    }
}

fn floats(name: &str, values: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Floats as i32,
        floats: values,
        ..AttributeProto::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..AttributeProto::default()
    }
}

#[test]
fn a_trailing_zipmap_becomes_its_probabilities() {
    let model = one_node(
        "ZipMap",
        &["probabilities"],
        &["output_probability"],
        vec![ints("classlabels_int64s", vec![0, 1, 2])],
        &["output_label", "output_probability"],
    );
    let graph = rewritten(model);
    assert_eq!(
        nodes(&graph),
        ["Identity n__unzipped(probabilities) -> output_probability"]
    );
    // The output was declared a sequence of maps; tract types it now.
    assert_eq!(graph.output[1].r#type, None);
    assert!(graph.output[0].r#type.is_some());
}

#[test]
fn a_zipmap_inside_the_graph_gets_the_hint() {
    let mut model = one_node("ZipMap", &["p"], &["z"], vec![], &["y"]);
    let e = format!("{:#}", rewrite(&mut model).expect_err("not trailing"));
    assert!(
        e.contains("re-export with options={'zipmap': False} (skl2onnx)"),
        "{e}"
    );
}

#[test]
fn binarizer_imputer_and_vectorizer_become_standard_operators() {
    let graph = rewritten(one_node(
        "Binarizer",
        &["x"],
        &["y"],
        vec![float("threshold", 0.5)],
        &["y"],
    ));
    assert_eq!(
        nodes(&graph),
        [
            "CastLike n__threshold_cast(n__threshold, x) -> n__threshold_typed",
            "Greater n__greater(x, n__threshold_typed) -> n__above",
            "CastLike n__cast(n__above, x) -> y",
        ]
    );
    assert_eq!(graph.initializer[0].float_data, [0.5]);

    let graph = rewritten(one_node(
        "Imputer",
        &["x"],
        &["y"],
        vec![
            floats("imputed_value_floats", vec![1.0, 2.0]),
            float("replaced_value_float", f32::NAN),
        ],
        &["y"],
    ));
    assert_eq!(
        nodes(&graph),
        [
            "IsNaN n__isnan(x) -> n__missing",
            "Where n__where(n__missing, n__imputed, x) -> y",
        ]
    );
    let graph = rewritten(one_node(
        "Imputer",
        &["x"],
        &["y"],
        vec![
            ints("imputed_value_int64s", vec![7]),
            int("replaced_value_int64", -1),
        ],
        &["y"],
    ));
    assert_eq!(
        nodes(&graph),
        [
            "Equal n__equal(x, n__replaced) -> n__missing",
            "Where n__where(n__missing, n__imputed, x) -> y",
        ]
    );
    assert_eq!(graph.initializer[0].int64_data, [-1]);

    let graph = rewritten(one_node(
        "FeatureVectorizer",
        &["a", "b"],
        &["y"],
        vec![ints("inputdimensions", vec![2, 1])],
        &["y"],
    ));
    assert_eq!(
        nodes(&graph),
        [
            "Cast n__cast0(a) -> n__float0",
            "Cast n__cast1(b) -> n__float1",
            "Concat n__concat(n__float0, n__float1) -> y",
        ]
    );
}

#[test]
fn array_feature_extractor_indices_are_flattened() {
    let graph = rewritten(one_node(
        "ArrayFeatureExtractor",
        &["x", "i"],
        &["y"],
        vec![],
        &["y"],
    ));
    assert_eq!(
        nodes(&graph),
        [
            "Reshape n__flatten(i, n__flat_shape) -> n__flat_indices",
            "ai.onnx.ml ArrayFeatureExtractor n(x, n__flat_indices) -> y",
        ]
    );
}

//! Scoring in-process: the example models against reference outputs
//! computed outside Wasm, over JSON and the binary tensor extension; bad
//! versions and artifacts refused while the rest load. Over real sockets
//! and clients: `cli/tests/serving.rs` and `tritonclient.rs`.

mod app;

use app::{App, Reply};
use edgeserve_test_support::{Repo, components, reference};
use serde_json::{Value, json};

fn post(s: &App, path: &str, body: Value) -> (u16, Value) {
    s.post_json(path, &body).pair()
}

fn get(s: &App, path: &str) -> (u16, Value) {
    s.get(path).pair()
}

/// `POST path` with a binary-extension body (no Content-Type, as
/// tritonclient sends it).
fn binary_post(s: &App, path: &str, header_len: usize, body: Vec<u8>) -> Reply {
    let len = header_len.to_string();
    s.call(
        "POST",
        path,
        &[("inference-header-content-length", &len)],
        body,
    )
}

/// Splits a binary-extension response into its JSON header and binary tail.
fn split_binary(resp: Reply) -> (Value, Vec<u8>) {
    let n: usize = resp
        .header("inference-header-content-length")
        .expect("binary response header")
        .parse()
        .unwrap();
    (
        serde_json::from_slice(&resp.body[..n]).unwrap(),
        resp.body[n..].to_vec(),
    )
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn iris_matches_reference_over_json() {
    let repo = Repo::examples().unwrap();
    let s = App::start(&repo, "");
    let refs = reference("iris").unwrap();
    let rows = refs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 150);
    // One batched request (nested data), and single-row requests (flat data).
    let data: Vec<Value> = rows.iter().map(|r| r["input"].clone()).collect();
    let (st, out) = post(
        &s,
        "/v2/models/iris/infer",
        json!({"id": "batch-1", "inputs": [{"name": "input", "shape": [150, 4], "datatype": "FP32", "data": data}]}),
    );
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["id"], "batch-1");
    assert_eq!(out["model_name"], "iris");
    assert_eq!(out["model_version"], "1");
    let probs = out["outputs"][0]["data"].as_array().unwrap();
    let labels = out["outputs"][1]["data"].as_array().unwrap();
    assert_eq!(out["outputs"][0]["shape"], json!([150, 3]));
    for (i, row) in rows.iter().enumerate() {
        for k in 0..3 {
            let got = probs[i * 3 + k].as_f64().unwrap();
            let want = row["probabilities"][k].as_f64().unwrap();
            assert!(close(got, want, 1e-5), "row {i} class {k}: {got} vs {want}");
        }
        assert_eq!(labels[i], row["label"], "row {i}");
    }
    for row in rows.iter().step_by(10) {
        let (st, out) = post(
            &s,
            "/v2/models/iris/infer",
            json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": row["input"]}],
                   "outputs": [{"name": "label"}]}),
        );
        assert_eq!(st, 200);
        assert_eq!(
            out["outputs"].as_array().unwrap().len(),
            1,
            "only the requested output"
        );
        assert_eq!(out["outputs"][0]["data"][0], row["label"]);
    }
}

#[test]
fn sentiment_matches_reference_over_json() {
    let repo = Repo::examples().unwrap();
    let s = App::start(&repo, "");
    let refs = reference("sentiment").unwrap();
    let rows = refs["rows"].as_array().unwrap();
    assert!(rows.len() >= 100);
    let texts: Vec<Value> = rows.iter().map(|r| r["text"].clone()).collect();
    let (st, out) = post(
        &s,
        "/v2/models/sentiment/infer",
        json!({"inputs": [{"name": "text", "shape": [texts.len()], "datatype": "BYTES", "data": texts}]}),
    );
    assert_eq!(st, 200, "{out}");
    let scores = out["outputs"][0]["data"].as_array().unwrap();
    let labels = out["outputs"][1]["data"].as_array().unwrap();
    for (i, row) in rows.iter().enumerate() {
        for k in 0..2 {
            let got = scores[i * 2 + k].as_f64().unwrap();
            let want = row["scores"][k].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-5,
                "row {i}: {got} vs {want} ({})",
                row["text"]
            );
        }
        assert_eq!(labels[i], row["label"], "row {i}: {}", row["text"]);
    }
}

#[test]
fn binary_tensor_extension_both_ways() {
    let repo = Repo::examples().unwrap();
    let s = App::start(&repo, "");
    let refs = reference("iris").unwrap();
    let rows = &refs["rows"].as_array().unwrap()[..64];
    let mut tail = Vec::new();
    for r in rows {
        for v in r["input"].as_array().unwrap() {
            tail.extend((v.as_f64().unwrap() as f32).to_le_bytes());
        }
    }
    let header = json!({
        "inputs": [{"name": "input", "shape": [64, 4], "datatype": "FP32", "parameters": {"binary_data_size": tail.len()}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}, {"name": "label", "parameters": {"binary_data": true}}]
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend(&tail);
    // No Content-Type, as tritonclient sends it.
    let resp = binary_post(&s, "/v2/models/iris/infer", header.len(), body.clone());
    assert_eq!(resp.status, 200);
    let (head, bin) = split_binary(resp);
    let psize = head["outputs"][0]["parameters"]["binary_data_size"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(psize, 64 * 3 * 4);
    let probs: Vec<f32> = bin[..psize]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut labels = Vec::new();
    let mut rest = &bin[psize..];
    while !rest.is_empty() {
        let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        labels.push(String::from_utf8(rest[4..4 + n].to_vec()).unwrap());
        rest = &rest[4 + n..];
    }
    for (i, r) in rows.iter().enumerate() {
        for k in 0..3 {
            assert!(close(
                probs[i * 3 + k] as f64,
                r["probabilities"][k].as_f64().unwrap(),
                1e-5
            ));
        }
        assert_eq!(labels[i], r["label"].as_str().unwrap());
    }

    // Request-level binary_data_output, BYTES input in binary.
    let mut bytes_tail = Vec::new();
    for t in ["what a wonderful, moving film", "tedious and dull"] {
        bytes_tail.extend((t.len() as u32).to_le_bytes());
        bytes_tail.extend(t.as_bytes());
    }
    let header = json!({
        "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": bytes_tail.len()}}],
        "parameters": {"binary_data_output": true}
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend(&bytes_tail);
    let resp = binary_post(&s, "/v2/models/sentiment/infer", header.len(), body);
    assert_eq!(resp.status, 200);
    let (head, bin) = split_binary(resp);
    assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 16);
    assert!(head["outputs"][1].get("data").is_none());
    assert!(bin.ends_with(b"negative"));

    // Byte counts that do not add up are a 400.
    let bad_header = json!({
        "inputs": [{"name": "input", "shape": [64, 4], "datatype": "FP32", "parameters": {"binary_data_size": tail.len() - 4}}]
    })
    .to_string();
    let mut bad = bad_header.clone().into_bytes();
    bad.extend(&tail);
    let resp = binary_post(&s, "/v2/models/iris/infer", bad_header.len(), bad);
    assert_eq!(resp.status, 400);
    let v = resp.json();
    assert!(v["error"].as_str().unwrap().contains("binary"), "{v}");
}

#[test]
fn bad_versions_are_refused_while_the_rest_load() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add("notmodel", "1", components::NOT_A_MODEL, "")
        .unwrap();
    repo.add("badsha", "1", components::IRIS, "sha256 = \"00ff\"\n")
        .unwrap();
    repo.add("badmanifest", "1", components::IRIS, "colour = \"blue\"\n")
        .unwrap();
    repo.add(
        "badsmoke",
        "1",
        components::FAULTY,
        "[config]\nmode = \"panic\"\n[smoke_test]\ninline = '{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}'\n",
    )
    .unwrap();
    repo.write("garbage", "1", "model.wasm", b"\0asm not really")
        .unwrap();
    repo.write("garbage", "1", "manifest.toml", b"").unwrap();
    std::fs::create_dir_all(repo.path().join("iris").join("latest")).unwrap();
    let s = App::start(&repo, "");
    let log = s.log();
    for needle in [
        "refused what=notmodel@1",
        "exports neither edgeserve:ml/inference@0.2.0",
        "refused what=badsha@1",
        "manifest says sha256 00ff",
        "refused what=badmanifest@1",
        "unknown field `colour`",
        "refused what=badsmoke@1",
        "smoke test",
        "refused what=garbage@1",
        "must be a positive integer",
        "loaded model=iris version=1",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    assert_eq!(get(&s, "/v2/models/iris/ready").0, 200);
    assert_eq!(get(&s, "/v2/models/notmodel/ready").0, 404);
}

#[test]
fn artifacts_reach_the_component_and_bad_ones_are_refused() {
    let repo = Repo::new().unwrap();
    let manifest = "[config]\nmode = \"artifact\"\n[artifacts]\nblob = \"blob.bin\"\n";
    repo.add("art", "1", components::FAULTY, manifest).unwrap();
    repo.write("art", "1", "blob.bin", &[7u8; 1000]).unwrap();
    // Refused: a path outside the folder, a missing file, more than the cap.
    repo.add(
        "escape",
        "1",
        components::FAULTY,
        "[artifacts]\nblob = \"../art/1/blob.bin\"\n",
    )
    .unwrap();
    repo.add(
        "missing",
        "1",
        components::FAULTY,
        "[artifacts]\nblob = \"nope.bin\"\n",
    )
    .unwrap();
    repo.add(
        "huge",
        "1",
        components::FAULTY,
        "[limits]\nmemory = \"1MiB\"\n[artifacts]\nblob = \"big.bin\"\n",
    )
    .unwrap();
    repo.write("huge", "1", "big.bin", &vec![0u8; 2 << 20])
        .unwrap();
    let s = App::start(&repo, "");
    let body = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [0]}]});
    let (status, v) = post(&s, "/v2/models/art/infer", body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["outputs"][0]["data"], json!([1000.0, 7.0, 1.0]));
    let log = s.log();
    for needle in [
        "must be a file name in the version folder",
        "nope.bin",
        "more than the version's memory limit",
    ] {
        assert!(log.contains(needle), "missing {needle:?}:\n{log}");
    }
}

/// What an app developer reads when a request is wrong: the model by the
/// name they called it (not the component's own name), the input a missing
/// field belongs to, and a bad element by its index and coordinates, never
/// a column counted inside the data array.
#[test]
fn request_errors_name_the_served_model_the_input_and_the_element() {
    let repo = Repo::new().unwrap();
    repo.add("flowers", "1", components::IRIS, "").unwrap();
    let s = App::start(&repo, "");
    let cases = [
        (
            json!({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                               "data": [1, 2, 3, 4]}]}),
            "unexpected input 'x'; model 'flowers' takes: input (FP32 [-1, 4])",
        ),
        (
            json!({"inputs": [{"name": "input", "datatype": "FP32", "data": [1, 2, 3, 4]}]}),
            "input 'input': no \"shape\" (its dimensions, such as [1, 4]); every input needs \
             \"name\", \"shape\", \"datatype\" and \"data\"",
        ),
        (
            json!({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                               "data": [[1, 2, 3, 4], [5, 6, "7", 8]]}]}),
            "input 'input': data element 6 (from 0; at [1, 2] in shape [2, 4]): a string is \
             not a valid FP32 element",
        ),
    ];
    for (body, want) in cases {
        let (status, reply) = post(&s, "/v2/models/flowers/infer", body);
        assert_eq!(status, 400, "{reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains(want), "want {want:?} in {error:?}");
        assert!(!error.contains("column"), "{error}");
    }
}

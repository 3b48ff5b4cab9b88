//! Attacks through the state folder, performed against a real server:
//! another component's compiled artifact swapped in under a model's name,
//! artifacts forged with a checksum of their own, a state folder others
//! may write, and a readable node key. The node must run only code it
//! compiled itself for that component, and must refuse a state folder it
//! cannot trust.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edgeserve_test_support::{Repo, Server, components, run, tempfile};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn serve(repo: &Repo, state: &Path) -> Server {
    Server::start(
        BIN,
        &[
            "--repository",
            repo.path().to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--no-admin",
        ],
    )
    .unwrap()
}

fn iris_label(s: &Server) -> String {
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    let r: Value = Client::new()
        .post(s.url("/v2/models/iris/infer"))
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let label = r["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|t| t["name"] == "label"))
        .map(|t| t["data"][0].clone());
    label
        .and_then(|l| l.as_str().map(String::from))
        .unwrap_or_else(|| r.to_string())
}

/// The AOT artifact of the component at `path` in `state`.
fn artifact_of(state: &Path, component: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(std::fs::read(component).unwrap()));
    std::fs::read_dir(state.join("aot"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&digest)
        })
        .unwrap_or_else(|| panic!("no artifact for {component}"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_swapped_or_forged_artifact_never_runs() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add_example("sentiment", "1", components::SENTIMENT)
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let s = serve(&repo, state.path());
    assert_eq!(iris_label(&s), "setosa");
    drop(s);
    let iris = artifact_of(state.path(), components::IRIS);
    let sentiment = artifact_of(state.path(), components::SENTIMENT);
    let genuine = std::fs::read(&iris).unwrap();

    // The node's own files are private (the state folder itself was made
    // by the test, 0755: accepted, as no one else may write it).
    for dir in ["aot", "versions", "predictions"] {
        assert_eq!(mode(&state.path().join(dir)), 0o700, "{dir}");
    }
    assert_eq!(mode(&iris), 0o600);
    assert_eq!(mode(&state.path().join("node.key")), 0o600);

    // 1. Another component's artifact copied over iris's file name.
    std::fs::copy(&sentiment, &iris).unwrap();
    let s = serve(&repo, state.path());
    assert!(
        s.log().contains("refused an AOT artifact")
            && s.log().contains("compile=Recompiled(\"not authenticated"),
        "{}",
        s.log()
    );
    assert_eq!(iris_label(&s), "setosa", "iris still answers as iris");
    drop(s);
    assert_ne!(
        std::fs::read(&iris).unwrap(),
        std::fs::read(&sentiment).unwrap()
    );

    // 2. The old trick: a file carrying its own checksum.
    let artifact = &genuine[genuine.len() / 2..];
    for forged in [
        [
            b"edgeserve-aot-1\n".as_slice(),
            &Sha256::digest(artifact),
            artifact,
        ]
        .concat(),
        [
            b"edgeserve-aot-2\n".as_slice(),
            &Sha256::digest(artifact),
            artifact,
        ]
        .concat(),
    ] {
        std::fs::write(&iris, forged).unwrap();
        let s = serve(&repo, state.path());
        assert!(s.log().contains("compile=Recompiled"), "{}", s.log());
        assert_eq!(iris_label(&s), "setosa");
    }

    // 3. An artifact of this node for iris, but sealed by another node.
    let other_state = tempfile::tempdir().unwrap();
    let s = serve(&repo, other_state.path());
    drop(s);
    std::fs::copy(artifact_of(other_state.path(), components::IRIS), &iris).unwrap();
    let s = serve(&repo, state.path());
    assert!(
        s.log().contains("compile=Recompiled(\"not authenticated"),
        "{}",
        s.log()
    );
    assert_eq!(iris_label(&s), "setosa");
    drop(s);

    // What the node wrote itself is still used.
    let s = serve(&repo, state.path());
    assert!(s.log().contains("compile=Hit"), "{}", s.log());
}

#[test]
fn a_state_folder_others_can_write_is_refused() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let state = tempfile::tempdir().unwrap();
    drop(serve(&repo, state.path()));
    let args = |dir: &Path| {
        vec![
            "serve".to_string(),
            "--repository".into(),
            repo.path().display().to_string(),
            "--state-dir".into(),
            dir.display().to_string(),
            "--no-admin".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ]
    };
    let refused = |dir: &Path, needle: &str| {
        let a = args(dir);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, _, err) = run(BIN, &a).unwrap();
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(needle), "{err}");
    };
    for (sub, bits) in [
        ("", 0o777),
        ("", 0o720),
        ("aot", 0o702),
        ("versions", 0o770),
    ] {
        let dir = state.path().join(sub);
        let before = mode(&dir);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(bits)).unwrap();
        refused(state.path(), "can be written by group or others");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(before)).unwrap();
    }
    let key = state.path().join("node.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(state.path(), "chmod 600");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Restored: the node starts and serves again.
    let s = serve(&repo, state.path());
    assert_eq!(iris_label(&s), "setosa");
}

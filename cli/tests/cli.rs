//! `edgeserve check`, `inspect` and `--help`.

use edgeserve_test_support::{Repo, components, run};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

#[test]
fn check_passes_only_when_every_version_loads() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add_example("sentiment", "1", components::SENTIMENT)
        .unwrap();
    let path = repo.path().to_str().unwrap();
    let (code, out, err) = run(BIN, &["check", path]).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok    iris@1"), "{out}");
    assert!(out.contains("2 version(s) checked, 0 failed"), "{out}");

    repo.add("wrong", "2", components::NOT_A_MODEL, "").unwrap();
    let (code, out, _) = run(BIN, &["check", path]).unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  wrong@2: world check"), "{out}");
    assert!(out.contains("3 version(s) checked, 1 failed"), "{out}");
}

#[test]
fn inspect_reports_world_version_imports_and_metadata() {
    let (code, out, err) = run(BIN, &["inspect", components::IRIS]).unwrap();
    assert_eq!(code, 0, "{err}");
    for needle in [
        "world:        model",
        "wit version:  0.1.1",
        "compatible:   yes",
        "edgeserve:ml/inference@0.1.1",
        "wasi:cli/stdout",
        "\"name\": \"iris\"",
        "sha256:",
    ] {
        assert!(out.contains(needle), "missing {needle:?}:\n{out}");
    }
    let (code, out, _) = run(BIN, &["inspect", "--json", components::SENTIMENT]).unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["world"], "model");
    assert_eq!(v["metadata"]["inputs"][0]["datatype"], "BYTES");

    // A policy, and a model built for WIT 0.1.0 (still runs here).
    let (code, out, _) = run(BIN, &["inspect", components::TENANT_ACCESS]).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("world:        policy") && out.contains("edgeserve:ml/filter@0.1.1"),
        "{out}"
    );
    let (code, out, _) = run(BIN, &["inspect", components::LEGACY_ECHO]).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("wit version:  0.1.0") && out.contains("compatible:   yes"),
        "{out}"
    );

    let (code, out, _) = run(BIN, &["inspect", components::NOT_A_MODEL]).unwrap();
    assert_eq!(code, 1);
    assert!(out.contains("compatible:   no"), "{out}");
    let (code, _, err) = run(BIN, &["inspect", "/no/such/file.wasm"]).unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn help_names_the_commands_and_flags() {
    let (code, out, _) = run(BIN, &["--help"]).unwrap();
    assert_eq!(code, 0);
    for needle in ["serve", "inspect", "check"] {
        assert!(out.contains(needle), "{out}");
    }
    let (code, out, _) = run(BIN, &["serve", "--help"]).unwrap();
    assert_eq!(code, 0);
    for needle in [
        "--repository",
        "--listen",
        "--config",
        "--tls-cert",
        "--tls-key",
        "--max-body",
    ] {
        assert!(out.contains(needle), "{out}");
    }
}

/// Operator slips in the configuration stop the start with the key that is
/// wrong, instead of panicking later (a zero guard interval once panicked
/// the rollout guard; an absurd body timeout overflowed every request's
/// clock).
#[test]
fn invalid_settings_stop_the_start_with_their_key() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let dir = edgeserve_test_support::tempfile::tempdir().unwrap();
    for (text, key) in [
        (
            "[state]\nguard_interval = \"0s\"\n",
            "[state] guard_interval: 0s is outside",
        ),
        (
            "[server]\nbody_read_timeout = \"9999999999h\"\n",
            "[server] body_read_timeout",
        ),
        (
            "[server]\nmax_connections_per_peer = 0\n",
            "[server] max_connections_per_peer",
        ),
        (
            "[model_defaults]\nmemory = \"64GiB\"\n",
            "[model_defaults] memory",
        ),
    ] {
        let cfg = dir.path().join("edgeserve.toml");
        std::fs::write(&cfg, text).unwrap();
        let state = dir.path().join("state");
        let (code, _, err) = run(
            BIN,
            &[
                "serve",
                "--repository",
                repo.path().to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "--state-dir",
                state.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--no-admin",
            ],
        )
        .unwrap();
        assert_eq!(code, 1, "{text}: {err}");
        assert!(
            err.contains("invalid configuration") && err.contains(key),
            "{text}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_canary_weight_over_100_is_a_usage_error_before_anything_is_sent() {
    // Nothing listens at this address: a usage error must come first.
    let (code, _, err) = run(
        BIN,
        &[
            "canary",
            "--admin",
            "http://127.0.0.1:9",
            "iris",
            "2",
            "--weight",
            "150",
        ],
    )
    .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("150 is not in 0..=100"), "{err}");
    assert!(!err.contains("cannot reach"), "{err}");
}

#[test]
fn check_reports_bindings_to_missing_policies_and_folders_without_versions() {
    let repo = Repo::new().unwrap();
    repo.add(
        "guard",
        "1",
        components::ROGUE_POLICY,
        "kind = \"policy\"\n[config]\nmode = \"allow\"\n",
    )
    .unwrap();
    // A typo in the binding: "gaurd".
    repo.add(
        "m",
        "1",
        components::FAULTY,
        "[[policies]]\npolicy = \"gaurd\"\n[config]\nmode = \"echo\"\n",
    )
    .unwrap();
    // A model.wasm put straight into the model folder, no version folder.
    std::fs::create_dir_all(repo.path().join("flat")).unwrap();
    std::fs::write(repo.path().join("flat").join("model.wasm"), b"\0asm").unwrap();
    let (code, out, err) = run(BIN, &["check", repo.path().to_str().unwrap()]).unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "FAIL  model m@1 binds policy 'gaurd', which is not deployed (policies here: \
             guard); every request to m will be refused (503) until it is"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "model folder 'flat' has no version folders: put each version in a numbered \
             folder, e.g. flat/1/model.wasm"
        ),
        "{out}"
    );
    assert!(out.contains("ok    guard@1"), "{out}");
    assert!(out.contains("ok    m@1"), "{out}");
}

#[test]
fn a_bad_admin_url_or_a_missing_component_is_a_usage_error() {
    let (code, _, err) = run(BIN, &["status", "--admin", "127.0.0.1:8082"]).unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("admin URL \"127.0.0.1:8082\" must look like http://127.0.0.1:8082"),
        "{err}"
    );
    // Nothing listens at this address: the file is checked first.
    let (code, _, err) = run(
        BIN,
        &[
            "deploy",
            "--admin",
            "http://127.0.0.1:9",
            "iris",
            "2",
            "--component",
            "/nonexistent/model.wasm",
        ],
    )
    .unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read /nonexistent/model.wasm"), "{err}");
    assert!(!err.contains("cannot reach"), "{err}");
}

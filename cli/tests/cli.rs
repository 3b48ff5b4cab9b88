//! `edgeserve check`, `inspect` and `--help`.

use edgeserve_test_support::{Repo, Server, components, run, tempfile};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// `check` says what each version takes and answers, and fills the AOT
/// cache `serve` uses with the same state folder: the first start after a
/// check compiles nothing.
#[test]
fn check_passes_only_when_every_version_loads() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add_example("sentiment", "1", components::SENTIMENT)
        .unwrap();
    let path = repo.path().to_str().unwrap();
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    let check = ["check", path, "--state-dir", state];
    // At the default log level, as a user runs it.
    let check_info = || {
        let out = std::process::Command::new(BIN)
            .args(check)
            .env_remove("EDGESERVE_LOG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = check_info();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ok    iris@1  model, compiled into the AOT cache, "),
        "{out}"
    );
    for spec in [
        "        input  input          FP32  [-1, 4]",
        "        output label          BYTES [-1]",
        "        output probabilities  FP32  [-1, 3]",
    ] {
        assert!(out.contains(spec), "{spec:?} in:\n{out}");
    }
    assert!(
        err.contains("compiling iris@1 (") && err.contains("first time only"),
        "{err}"
    );
    assert!(out.contains("2 version(s) checked, 0 failed"), "{out}");

    // Again: nothing compiles; then serve with that state folder, nor does it.
    let (code, out, err) = check_info();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ok    iris@1  model, from the AOT cache"),
        "{out}"
    );
    assert!(!err.contains("compiling"), "{err}");
    let s = Server::start(BIN, &["--repository", path, "--state-dir", state]).unwrap();
    let log = s.log();
    assert!(
        log.contains("loaded") && !log.contains("compiling"),
        "{log}"
    );
    drop(s);

    // A state folder that cannot be used (here: a file) only loses the
    // cache; the check itself goes on.
    let file = tempfile::NamedTempFile::new().unwrap();
    let unusable = ["check", path, "--state-dir", file.path().to_str().unwrap()];
    let (code, out, err) = run(BIN, &unusable).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("model, compiled, no AOT cache"), "{out}");
    assert!(err.contains("checking without the AOT cache"), "{err}");

    repo.add("wrong", "2", components::NOT_A_MODEL, "").unwrap();
    let (code, out, _) = run(BIN, &check).unwrap();
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
        "wit version:  0.2.0",
        "compatible:   yes",
        "edgeserve:ml/inference@0.2.0",
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

    // A policy with what it reads (tenant-access: the caller's identity
    // and the route; the PII redaction: the answer alone), and a model
    // built for WIT 0.1.0 (still runs here).
    let (code, out, _) = run(BIN, &["inspect", "--json", components::TENANT_ACCESS]).unwrap();
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["world"], "policy");
    assert_eq!(v["wit_versions"], serde_json::json!(["0.2.0"]));
    assert_eq!(v["metadata"]["name"], "tenant-access");
    assert_eq!(
        v["metadata"]["reads"],
        serde_json::json!(["identity", "route"])
    );
    let (code, out, _) = run(BIN, &["inspect", components::PII_REDACTION]).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("world:        policy")
            && out.contains("edgeserve:ml/filter@0.2.0")
            && out.contains("\"reads\": [\n      \"response\"\n    ]"),
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

    // The ONNX runner: read without compiling it (its graph comes with a
    // version folder, so no metadata call that could only trap), and
    // without an error line.
    let (code, out, err) = run(BIN, &["inspect", components::ONNX_RUNNER]).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("world:        model")
            && out.contains("compatible:   yes")
            && out.contains("edgeserve:ml/artifacts@0.2.0")
            && out.contains("run `edgeserve check` on the model repository"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");

    // A file that is not a component says so, and how to make one.
    let dir = edgeserve_test_support::tempfile::tempdir().unwrap();
    let text = dir.path().join("model.wasm");
    std::fs::write(&text, "{\"not\": \"wasm\"}").unwrap();
    let (code, _, err) = run(BIN, &["inspect", text.to_str().unwrap()]).unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains("not a WebAssembly component: the file starts with \"{\"not\": \", not with")
            && err.contains("cargo build --release --target wasm32-wasip2"),
        "{err}"
    );
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
    // Every deploy command shows how it is used, not only its flags.
    for (command, example) in [
        ("status", "edgeserve status iris"),
        ("deploy", "edgeserve deploy iris 3 --component model.wasm"),
        ("promote", "edgeserve promote iris 3"),
        ("canary", "edgeserve canary iris 3 --weight 10"),
        ("shadow", "edgeserve shadow iris 3"),
        ("rollback", "edgeserve rollback iris"),
        ("remove", "edgeserve remove iris 2"),
    ] {
        let (code, out, _) = run(BIN, &[command, "--help"]).unwrap();
        assert_eq!(code, 0);
        assert!(out.contains(example), "{command} --help:\n{out}");
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
    let state = tempfile::tempdir().unwrap();
    let (code, out, err) = run(
        BIN,
        &[
            "check",
            repo.path().to_str().unwrap(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
    )
    .unwrap();
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

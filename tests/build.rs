//! Builds every guest component once per test build (examples and test
//! fixtures, for wasm32-wasip2, into `target/guests`) and generates a
//! constant with the path of each.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest workspaces and the components each produces.
const WORKSPACES: &[(&str, &[&str])] = &[
    (
        "examples",
        &[
            "iris",
            "sentiment",
            "tenant-access",
            "input-guard",
            "pii-redaction",
            "response-shaper",
        ],
    ),
    (
        "tests/components",
        &[
            "faulty",
            "not-a-model",
            "legacy-echo",
            "legacy-policy",
            "rogue-policy",
        ],
    ),
    // One build of the ONNX runner serves every ONNX example.
    ("runners/onnx", &["onnx-runner"]),
];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    let target_dir = root.join("target").join("guests");
    for dir in [
        "wit",
        "guest-sdk",
        "examples",
        "tests/components",
        "runners",
    ] {
        watch(&root.join(dir));
    }

    let mut consts = String::new();
    for (workspace, components) in WORKSPACES {
        let manifest = root.join(workspace).join("Cargo.toml");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir);
        // The outer build's settings are for the host, not for guests.
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_MAKEFLAGS",
            "MAKEFLAGS",
            "MFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC_WRAPPER",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd
            .status()
            .expect("cannot run cargo to build guest components");
        if !status.success() {
            panic!(
                "building the guest components in {workspace} failed; is the wasm32-wasip2 \
                 target installed? (rustup target add wasm32-wasip2)"
            );
        }
        for c in *components {
            let file = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", c.replace('-', "_")));
            let file = if file.exists() {
                file
            } else {
                target_dir
                    .join("wasm32-wasip2/release")
                    .join(format!("{c}.wasm"))
            };
            assert!(
                file.exists(),
                "guest build did not produce {}",
                file.display()
            );
            consts.push_str(&format!(
                "/// Path of the `{c}` component.\npub const {}: &str = {:?};\n",
                c.to_uppercase().replace('-', "_"),
                file.display().to_string()
            ));
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("components.rs");
    std::fs::write(out, consts).unwrap();
}

fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

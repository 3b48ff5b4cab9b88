//! The guides cannot drift from the product: every code block of README.md
//! and docs/*.md is checked by what it is. Rust blocks are built, each as
//! its own component crate against the guest SDK, and `edgeserve inspect`
//! must accept what they build; TOML blocks must be a valid server
//! configuration, version manifest or Cargo manifest (unknown keys are
//! refused, as the server refuses them); JSON blocks parse; Python blocks
//! parse.

use std::path::{Path, PathBuf};
use std::process::Command;

use edgeserve_node::config::ServeConfig;
use edgeserve_node::repository::Manifest;
use edgeserve_test_support::{repo_root, run};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// One fenced code block: where it is, its language tag and its text.
struct Block {
    place: String,
    lang: String,
    text: String,
}

/// The guides: the README and every page under docs/.
fn guides() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The fenced blocks of a Markdown file, indentation (list items) removed.
fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path
        .strip_prefix(repo_root())
        .unwrap()
        .display()
        .to_string();
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, String, Vec<String>)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(tag)) => open = Some((n + 1, indent, tag.trim().to_string(), Vec::new())),
            (Some(_), Some(_)) => {
                let (start, _, lang, lines) = open.take().unwrap();
                out.push(Block {
                    place: format!("{name}:{start}"),
                    lang,
                    text: lines.join("\n") + "\n",
                });
            }
            (Some((_, indent, _, lines)), None) => {
                lines.push(line.get(*indent..).unwrap_or(line.trim_start()).to_string())
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{name}: a code block is never closed");
    out
}

fn all_blocks() -> Vec<Block> {
    guides().iter().flat_map(|p| blocks(p)).collect()
}

/// A TOML block is one of the kinds of file a user writes: a Cargo manifest,
/// a server configuration, a version manifest, or a fleet nodes file.
fn check_toml(b: &Block) -> Result<(), String> {
    let value: toml::Table = toml::from_str(&b.text).map_err(|e| format!("not TOML: {e}"))?;
    let cargo = ["package", "lib", "dependencies", "profile", "workspace"];
    if cargo.iter().any(|k| value.contains_key(*k)) {
        return Ok(());
    }
    if value.contains_key("node") {
        return edgeserve_node::fleet::inventory::Inventory::parse(&b.text)
            .map(|_| ())
            .map_err(|e| format!("not a nodes file: {e}"));
    }
    let as_config = toml::from_str::<ServeConfig>(&b.text).map(|_| ());
    let as_manifest = Manifest::parse(&b.text).map(|_| ());
    match (as_config, as_manifest) {
        (Ok(()), _) | (_, Ok(())) => Ok(()),
        (Err(c), Err(m)) => Err(format!(
            "neither a server configuration ({c}) nor a version manifest ({m})"
        )),
    }
}

/// Python's own parser (python3, which the test suite uses anyway).
fn check_python(b: &Block) -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(sys.stdin.read())"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b.text.as_bytes())?;
            child.wait_with_output()
        })
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn toml_json_and_python_blocks_are_valid() {
    let blocks = all_blocks();
    let mut failures = Vec::new();
    let mut counted = [0usize; 3];
    for b in &blocks {
        let result = match b.lang.as_str() {
            "toml" => {
                counted[0] += 1;
                check_toml(b)
            }
            "json" => {
                counted[1] += 1;
                serde_json::from_str::<serde_json::Value>(&b.text)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            "python" => {
                counted[2] += 1;
                check_python(b)
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            failures.push(format!("{} ({}): {e}", b.place, b.lang));
        }
    }
    eprintln!(
        "checked {} TOML, {} JSON and {} Python blocks",
        counted[0], counted[1], counted[2]
    );
    assert!(counted[0] >= 10, "too few TOML blocks found: {counted:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every Rust block becomes a crate of one generated workspace (built
/// once, in parallel, sharing the guest SDK's build with the test suite's
/// guests); each built component must be one `edgeserve inspect` accepts.
#[test]
fn rust_blocks_build_into_components() {
    let rust: Vec<Block> = all_blocks()
        .into_iter()
        .filter(|b| b.lang == "rust")
        .collect();
    assert!(rust.len() >= 3, "too few Rust blocks found");
    let root = repo_root();
    let work = root.join("target/guide-snippets");
    let _ = std::fs::remove_dir_all(&work);
    let sdk = root.join("guest-sdk");
    let mut members = Vec::new();
    for (i, b) in rust.iter().enumerate() {
        let name = format!("guide-snippet-{i}");
        let dir = work.join(&name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
                 publish = false\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n\
                 edgeserve-guest = {{ path = {:?} }}\n",
                sdk.display().to_string()
            ),
        )
        .unwrap();
        let source = format!("// {}\n{}", b.place, b.text);
        std::fs::write(dir.join("src/lib.rs"), source).unwrap();
        members.push((name, b.place.clone()));
    }
    let list: Vec<String> = members.iter().map(|(n, _)| format!("{n:?}")).collect();
    std::fs::write(
        work.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[profile.release]\n\
             opt-level = \"s\"\npanic = \"abort\"\n",
            list.join(", ")
        ),
    )
    .unwrap();
    let target = root.join("target/guests");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(work.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let places: Vec<String> = members.iter().map(|(n, p)| format!("{n} is {p}")).collect();
    assert!(
        out.status.success(),
        "a Rust block of the guides does not build ({}):\n{}",
        places.join(", "),
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, place) in &members {
        let wasm = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let (code, text, err) = run(BIN, &["inspect", wasm.to_str().unwrap()]).unwrap();
        assert_eq!(code, 0, "{place}: {text}{err}");
        assert!(text.contains("compatible:   yes"), "{place}: {text}");
    }
}

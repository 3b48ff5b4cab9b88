//! The real Python client `tritonclient[http]`, installed from PyPI into a
//! virtual environment that this test creates, scores the example models.

use std::path::PathBuf;
use std::process::Command;

use edgeserve_test_support::{Repo, Server, components, repo_root};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// Creates (once) `target/py-tests` with the pinned client packages.
fn python_env() -> PathBuf {
    let root = repo_root();
    let venv = root.join("target").join("py-tests");
    let reqs = root.join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&reqs).unwrap();
    let stamp = venv.join(".edgeserve-requirements");
    let python = venv.join("bin").join("python");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return python;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 is needed for the tritonclient test")
        .success();
    assert!(ok, "python3 -m venv failed");
    let ok = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&reqs)
        .status()
        .unwrap()
        .success();
    assert!(ok, "pip install -r {} failed", reqs.display());
    std::fs::write(&stamp, wanted).unwrap();
    python
}

#[test]
fn tritonclient_http_scores_the_examples() {
    let python = python_env();
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add_example("sentiment", "1", components::SENTIMENT)
        .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let script = repo_root().join("tests/python/test_tritonclient.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("EDGESERVE_URL", &s.addr)
        .env("EDGESERVE_EXAMPLES", repo_root().join("examples"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tritonclient checks failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        s.log()
    );
    assert!(stdout.contains("all tritonclient checks passed"));
}

//! The real Python client `tritonclient[http]`, installed from PyPI into a
//! virtual environment that this test creates, scores the example models.

use std::process::Command;

use edgeserve_test_support::{Repo, Server, components, python_env, repo_root};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

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

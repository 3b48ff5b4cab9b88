//! The gRPC messages are tritonclient's, field for field: the proto file is
//! compiled here (protox) and compared in Python with the descriptor that
//! the unmodified `tritonclient.grpc` from PyPI ships.

use prost::Message as _;

#[test]
fn the_messages_are_tritonclients_field_for_field() {
    let proto = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let fds = protox::compile(["inference.proto"], [proto]).unwrap();
    let dir = edgeserve_test_support::tempfile::tempdir().unwrap();
    let pb = dir.path().join("inference.pb");
    std::fs::write(&pb, fds.encode_to_vec()).unwrap();
    let python =
        edgeserve_test_support::python_venv("py-grpc", "tests/python/requirements-grpc.txt");
    let script = edgeserve_test_support::repo_root().join("tests/python/grpc_wire.py");
    let out = std::process::Command::new(python)
        .args(["-W", "ignore"])
        .arg(script)
        .arg(&pb)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("messages and 10 methods against tritonclient: 0 differences"),
        "{text}"
    );
}

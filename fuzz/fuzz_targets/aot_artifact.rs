//! The AOT artifact envelope: no file the fuzzer makes opens without the
//! node's key (so no forged native code reaches wasmtime), and every
//! sealed artifact opens to itself, for that component only.
#![no_main]

use edgeserve_node::runtime::{artifact_key, open_artifact, seal_artifact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = artifact_key(&[0x5a; 32]);
    assert!(
        open_artifact(&key, "engine", "digest", data).is_err(),
        "a file not sealed by this node opened"
    );
    let sealed = seal_artifact(&key, "engine", "digest", data);
    assert_eq!(open_artifact(&key, "engine", "digest", &sealed), Ok(data));
    assert!(open_artifact(&key, "engine", "other-digest", &sealed).is_err());
});

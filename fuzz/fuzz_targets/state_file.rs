//! The persisted deployment state: any file contents load or are refused,
//! never panic, and what loads round-trips.
#![no_main]

use edgeserve_node::deploy::DeployState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = DeployState::parse(data) else {
        return;
    };
    let again = serde_json::to_vec(&state).expect("a loaded state serializes");
    assert_eq!(DeployState::parse(&again).as_ref(), Ok(&state));
});

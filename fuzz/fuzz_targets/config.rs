//! Server configuration files: parsing and validation never panic (a
//! zero interval or an absurd timeout is refused, not a crash).
#![no_main]

use edgeserve_node::config::ServeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = toml::from_str::<ServeConfig>(text) else {
        return;
    };
    if cfg.validate().is_ok() {
        // A valid configuration's derived limits are within its own.
        let s = &cfg.server;
        assert!(s.peer_memory() <= s.max_inflight_body);
        assert!(s.connection_memory() <= s.max_inflight_body);
    }
});

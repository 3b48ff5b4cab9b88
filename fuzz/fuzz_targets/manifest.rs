//! Version manifests: parsing never panics, and a manifest that parses
//! names no file outside its version folder.
#![no_main]

use edgeserve_node::config::ModelDefaults;
use edgeserve_node::repository::{Manifest, plain_file_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    for (_, file) in manifest.referenced_files() {
        assert!(plain_file_name(file), "{file:?} got past the path check");
    }
    let settings = manifest.settings(&ModelDefaults::default());
    let _ = Manifest::check_limits(&settings);
});

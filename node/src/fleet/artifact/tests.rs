use std::collections::HashMap;

use super::*;

const CAPS: Caps = Caps {
    document: 1 << 20,
    total: 1 << 24,
};

fn files(component: &[u8]) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            MANIFEST_FILE.into(),
            b"[smoke_test]\nrequest = \"smoke.json\"\n[artifacts]\nmodel = \"model.onnx\"\n"
                .to_vec(),
        ),
        ("model.wasm".into(), component.to_vec()),
        ("smoke.json".into(), b"{\"inputs\": []}".to_vec()),
        ("model.onnx".into(), b"graph bytes".to_vec()),
    ]
}

/// The registry: blobs by digest.
fn store(p: &Packed) -> HashMap<String, Vec<u8>> {
    std::iter::once(&p.config)
        .chain(&p.layers)
        .map(|b| (b.descriptor.digest.clone(), b.bytes.clone()))
        .collect()
}

fn fetch_from(
    blobs: &HashMap<String, Vec<u8>>,
) -> impl FnMut(&Descriptor) -> Result<Vec<u8>, String> + '_ {
    |d| {
        blobs
            .get(&d.digest)
            .cloned()
            .ok_or_else(|| "not found".into())
    }
}

#[test]
fn a_version_round_trips_with_every_file() {
    let p = pack(&files(b"\0asm component"), "model", "0.1.1", Some(1)).unwrap();
    assert_eq!(p.digest, digest_of(&p.manifest));
    assert_eq!(p.layers[0].descriptor.media_type, WASM_MEDIA_TYPE);
    assert!(
        p.layers[1..]
            .iter()
            .all(|l| l.descriptor.media_type == FILE_MEDIA_TYPE)
    );
    let image: ImageManifest = serde_json::from_slice(&p.manifest).unwrap();
    assert_eq!(image.artifact_type.as_deref(), Some(CONFIG_MEDIA_TYPE));
    let blobs = store(&p);
    let unpacked = unpack(&p.manifest, &p.digest, CAPS, fetch_from(&blobs)).unwrap();
    assert_eq!(unpacked.version, Some(1));
    let mut got = unpacked.files;
    let mut want = files(b"\0asm component");
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn each_config_is_unique_to_its_content() {
    let a = pack(&files(b"one"), "model", "0.1.1", Some(1)).unwrap();
    let b = pack(&files(b"two"), "model", "0.1.1", Some(1)).unwrap();
    assert_ne!(a.config.descriptor.digest, b.config.descriptor.digest);
    assert_ne!(a.digest, b.digest);
    // The same content packs the same, byte for byte.
    let again = pack(&files(b"one"), "model", "0.1.1", Some(1)).unwrap();
    assert_eq!(a.manifest, again.manifest);
}

#[test]
fn tampered_or_oversized_content_is_refused() {
    let p = pack(&files(b"component"), "model", "0.1.1", Some(1)).unwrap();
    let blobs = store(&p);
    // The manifest is not the one the tag resolved to.
    let err = unpack(&p.manifest, &digest_of(b"other"), CAPS, fetch_from(&blobs)).unwrap_err();
    assert!(matches!(err, ArtifactError::Digest { .. }), "{err}");
    // A layer swapped in the registry.
    let mut swapped = blobs.clone();
    swapped.insert(p.layers[0].descriptor.digest.clone(), b"evil".to_vec());
    let err = unpack(&p.manifest, &p.digest, CAPS, fetch_from(&swapped)).unwrap_err();
    assert!(err.to_string().contains("layer 'model.wasm'"), "{err}");
    // Over the cap: refused before anything is fetched.
    let small = Caps {
        document: 1 << 20,
        total: 8,
    };
    let err = unpack(
        &p.manifest,
        &p.digest,
        small,
        |_| -> Result<Vec<u8>, String> { panic!("fetched although over the cap") },
    )
    .unwrap_err();
    assert!(matches!(err, ArtifactError::TooLarge { .. }), "{err}");
    // Sizes that would overflow a sum are over the cap too, not a panic.
    let (m, d) = edited(&p, |i| {
        for l in &mut i.layers {
            l.size = u64::MAX;
        }
    });
    let err = unpack(&m, &d, CAPS, fetch_from(&blobs)).unwrap_err();
    assert!(matches!(err, ArtifactError::TooLarge { .. }), "{err}");
}

/// Rewrites the manifest with `edit` and returns it with its digest.
fn edited(p: &Packed, edit: impl FnOnce(&mut ImageManifest)) -> (Vec<u8>, String) {
    let mut image: ImageManifest = serde_json::from_slice(&p.manifest).unwrap();
    edit(&mut image);
    let bytes = serde_json::to_vec(&image).unwrap();
    let digest = digest_of(&bytes);
    (bytes, digest)
}

/// An artifact as a hostile pusher could make it, config and manifest
/// consistent, with the given layer titles.
fn crafted(titles: &[&str]) -> (Vec<u8>, String, HashMap<String, Vec<u8>>) {
    let layers: Vec<Blob> = titles
        .iter()
        .map(|t| blob(FILE_MEDIA_TYPE, t.as_bytes().to_vec(), Some(t)))
        .collect();
    let config = VersionConfig::of(String::new(), "model", "0.1.1", None, &layers);
    let config = blob(
        CONFIG_MEDIA_TYPE,
        serde_json::to_vec(&config).unwrap(),
        None,
    );
    let image = ImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        artifact_type: Some(CONFIG_MEDIA_TYPE.into()),
        config: config.descriptor.clone(),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
    };
    let bytes = serde_json::to_vec(&image).unwrap();
    let blobs = std::iter::once(&config)
        .chain(&layers)
        .map(|b| (b.descriptor.digest.clone(), b.bytes.clone()))
        .collect();
    let digest = digest_of(&bytes);
    (bytes, digest, blobs)
}

#[test]
fn titles_must_be_plain_unique_and_agree_with_the_config() {
    for (titles, want) in [
        (
            &["model.wasm", "../../etc/passwd"][..],
            "not a usable file name",
        ),
        (&["model.wasm", "manifest.toml"], "not a usable file name"),
        (&["model.wasm", "a/b"], "not a usable file name"),
        (
            &["model.wasm", "smoke.json", "smoke.json"],
            "two layers are named 'smoke.json'",
        ),
    ] {
        let (m, d, blobs) = crafted(titles);
        let err = unpack(&m, &d, CAPS, fetch_from(&blobs)).unwrap_err();
        assert!(err.to_string().contains(want), "{titles:?}: {err}");
    }
    let p = pack(&files(b"component"), "model", "0.1.1", Some(1)).unwrap();
    let blobs = store(&p);
    // The manifest renames a layer the config names otherwise.
    let (m, d) = edited(&p, |i| {
        i.layers[2]
            .annotations
            .insert(TITLE.into(), "other.onnx".into());
    });
    let err = unpack(&m, &d, CAPS, fetch_from(&blobs)).unwrap_err();
    assert!(err.to_string().contains("is not the config's"), "{err}");
    // A layer the config does not list.
    let (m, d) = edited(&p, |i| {
        i.layers.pop();
    });
    let err = unpack(&m, &d, CAPS, fetch_from(&blobs)).unwrap_err();
    assert!(err.to_string().contains("does not list"), "{err}");
}

#[test]
fn a_cncf_wasm_artifact_is_a_component_with_an_empty_manifest() {
    let component = blob(WASM_MEDIA_TYPE, b"\0asm".to_vec(), None);
    let config = blob(CNCF_WASM_CONFIG, b"{}".to_vec(), None);
    let image = ImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        artifact_type: None,
        config: config.descriptor.clone(),
        layers: vec![component.descriptor.clone()],
    };
    let bytes = serde_json::to_vec(&image).unwrap();
    let blobs: HashMap<String, Vec<u8>> = [
        (component.descriptor.digest.clone(), component.bytes.clone()),
        (config.descriptor.digest.clone(), config.bytes.clone()),
    ]
    .into();
    let unpacked = unpack(&bytes, &digest_of(&bytes), CAPS, fetch_from(&blobs)).unwrap();
    assert_eq!(unpacked.version, None);
    let files = unpacked.files;
    assert_eq!(
        files,
        vec![
            (MANIFEST_FILE.to_string(), Vec::new()),
            ("model.wasm".to_string(), b"\0asm".to_vec())
        ]
    );
}

#[test]
fn packing_needs_the_component_the_manifest_names() {
    let mut f = files(b"component");
    f.retain(|(n, _)| n != "model.wasm");
    let err = pack(&f, "model", "0.1.1", Some(1)).unwrap_err();
    assert!(
        err.to_string().contains("no component file 'model.wasm'"),
        "{err}"
    );
}

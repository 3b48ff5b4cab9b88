use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};

use super::*;

const DIGEST: &str = "sha256:7024aa5b5b8cb1a0b9f06c3d4b1a2d9e0f6c5b4a39281706f5e4d3c2b1a09f8e";
const REPO: &str = "registry.example/models/iris";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A PEM `PUBLIC KEY` block, as `cosign generate-key-pair` writes one.
fn pem(spki: &[u8]) -> Vec<u8> {
    crate::fleet::keys::pem("PUBLIC KEY", spki).into_bytes()
}

/// A P-256 key pair: its trust key (through PEM) and a signer.
fn p256() -> (TrustKey, impl Fn(&[u8]) -> String) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let spki = [P256_SPKI, pair.public_key().as_ref()].concat();
    let key = TrustKey::from_pem(&pem(&spki)).unwrap();
    (key, move |m: &[u8]| {
        b64(pair.sign(&SystemRandom::new(), m).unwrap().as_ref())
    })
}

fn ed25519() -> (TrustKey, impl Fn(&[u8]) -> String) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let spki = [ED25519_SPKI, pair.public_key().as_ref()].concat();
    let key = TrustKey::from_pem(&pem(&spki)).unwrap();
    (key, move |m: &[u8]| b64(pair.sign(m).as_ref()))
}

#[test]
fn the_payload_is_cosigns_simple_signing_document() {
    let p = String::from_utf8(payload(REPO, DIGEST)).unwrap();
    assert_eq!(
        p,
        format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"{REPO}\"}},\"image\":\
             {{\"docker-manifest-digest\":\"{DIGEST}\"}},\"type\":\"cosign container image \
             signature\"}},\"optional\":null}}"
        )
    );
}

fn signs_and_verifies(key: TrustKey, sign: impl Fn(&[u8]) -> String) {
    let p = payload(REPO, DIGEST);
    let sig = sign(&p);
    verify(
        DIGEST,
        &[(p.clone(), sig.clone())],
        std::slice::from_ref(&key),
    )
    .unwrap();
    // One good signature among bad ones is enough.
    verify(
        DIGEST,
        &[(p.clone(), b64(b"junk")), (p, sig)],
        std::slice::from_ref(&key),
    )
    .unwrap();
}

#[test]
fn a_signature_by_a_trusted_key_over_this_digest_verifies() {
    let (key, sign) = p256();
    signs_and_verifies(key, sign);
    let (key, sign) = ed25519();
    signs_and_verifies(key, sign);
}

#[test]
fn unsigned_forged_moved_or_foreign_signatures_are_refused() {
    let (key, sign) = p256();
    let (other, other_sign) = p256();
    let keys = [key];
    let p = payload(REPO, DIGEST);

    // Unsigned, with trust keys configured: refused, never "nothing to check".
    let err = verify(DIGEST, &[], &keys).unwrap_err();
    assert!(matches!(err, SignatureError::Unsigned { .. }), "{err}");

    // Signed by a key this node does not trust.
    let err = verify(DIGEST, &[(p.clone(), other_sign(&p))], &keys).unwrap_err();
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");
    verify(DIGEST, &[(p.clone(), other_sign(&p))], &[other]).unwrap();

    // The payload changed after signing.
    let sig = sign(&p);
    let mut changed = p.clone();
    changed[10] ^= 1;
    let err = verify(DIGEST, &[(changed, sig)], &keys).unwrap_err();
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");

    // A good signature of another version, moved onto this one.
    let elsewhere = payload(REPO, &DIGEST.replace("7024", "8135"));
    let err = verify(DIGEST, &[(elsewhere.clone(), sign(&elsewhere))], &keys).unwrap_err();
    assert!(
        err.to_string()
            .contains("a signature moved to another version"),
        "{err}"
    );

    // No trust key at all is a configuration error, not a pass.
    let err = verify(DIGEST, &[(p.clone(), sign(&p))], &[]).unwrap_err();
    assert!(matches!(err, SignatureError::Key(_)), "{err}");
}

#[test]
fn only_p256_and_ed25519_public_keys_are_trust_keys() {
    assert!(TrustKey::from_pem(b"not pem").is_err());
    // A P-384 key's SubjectPublicKeyInfo.
    let p384 = [
        &[
            0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
        ][..],
        &[0x04; 97][..],
    ]
    .concat();
    let err = TrustKey::from_pem(&pem(&p384)).unwrap_err();
    assert!(
        err.to_string().contains("only ECDSA P-256 and Ed25519"),
        "{err}"
    );
}

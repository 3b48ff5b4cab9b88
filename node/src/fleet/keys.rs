//! Signing keys: what `edgeserve sign` and `edgeserve push --sign-key`
//! sign with, and `edgeserve keygen`, which makes a pair.
//!
//! A private key is an unencrypted PKCS#8 PEM `PRIVATE KEY` block, as
//! `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` or
//! `openssl genpkey -algorithm ed25519` writes it (cosign's own encrypted
//! key format is not read: export the key to PKCS#8 first). Keep it on the
//! build machine or in a CI secret; nodes hold only the public half.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;

use super::signature::{SignatureError, TrustKey, spki_of};

/// Which kind of key to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

/// A private key that signs versions.
pub struct SigningKey {
    pair: Pair,
    rng: SystemRandom,
}

enum Pair {
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from a PEM `PRIVATE KEY` (PKCS#8) block, P-256 or Ed25519.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, SignatureError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| {
            SignatureError::Key(format!(
                "not an unencrypted PEM PRIVATE KEY (PKCS#8): {e}; make one with \
                 `edgeserve keygen` or `openssl genpkey -algorithm EC -pkeyopt \
                 ec_paramgen_curve:P-256`"
            ))
        })?;
        let rng = SystemRandom::new();
        let der = der.secret_pkcs8_der();
        let pair =
            if let Ok(p) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng) {
                Pair::P256(p)
            } else if let Ok(p) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                Pair::Ed25519(p)
            } else {
                return Err(SignatureError::Key(
                    "only ECDSA P-256 and Ed25519 private keys are supported".into(),
                ));
            };
        Ok(SigningKey { pair, rng })
    }

    /// Which kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self.pair {
            Pair::P256(_) => KeyKind::EcdsaP256,
            Pair::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// The public half, as a node trusts it.
    pub fn trust_key(&self) -> TrustKey {
        match &self.pair {
            Pair::P256(p) => TrustKey::EcdsaP256(p.public_key().as_ref().to_vec()),
            Pair::Ed25519(p) => TrustKey::Ed25519(p.public_key().as_ref().to_vec()),
        }
    }

    /// The public half as a PEM `PUBLIC KEY` block (what `cosign.pub` is).
    pub fn public_pem(&self) -> String {
        pem("PUBLIC KEY", &spki_of(&self.trust_key()))
    }

    /// Signs `message`; the signature base64-encoded, as cosign carries it.
    pub fn sign(&self, message: &[u8]) -> Result<String, SignatureError> {
        let sig = match &self.pair {
            Pair::P256(p) => p
                .sign(&self.rng, message)
                .map_err(|_| SignatureError::Key("signing failed".into()))?
                .as_ref()
                .to_vec(),
            Pair::Ed25519(p) => p.sign(message).as_ref().to_vec(),
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(sig))
    }
}

/// Makes a new key pair: the private key's PEM (PKCS#8) and the public
/// key's PEM.
pub fn generate(kind: KeyKind) -> Result<(String, String), SignatureError> {
    let rng = SystemRandom::new();
    let failed = |_| SignatureError::Key("the system's random source failed".into());
    let pkcs8 = match kind {
        KeyKind::EcdsaP256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(failed)?
        }
        KeyKind::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?,
    };
    let private = pem("PRIVATE KEY", pkcs8.as_ref());
    let public = SigningKey::from_pem(private.as_bytes())?.public_pem();
    Ok((private, public))
}

/// A PEM block of `label` around `der`, 64 characters a line.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::signature::{payload, verify};

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn generated_keys_sign_what_their_public_half_verifies() {
        for kind in [KeyKind::EcdsaP256, KeyKind::Ed25519] {
            let (private, public) = generate(kind).unwrap();
            let key = SigningKey::from_pem(private.as_bytes()).unwrap();
            assert_eq!(key.kind(), kind);
            let trust = TrustKey::from_pem(public.as_bytes()).unwrap();
            let p = payload("127.0.0.1:5000/iris", DIGEST);
            let sig = key.sign(&p).unwrap();
            verify(DIGEST, &[(p.clone(), sig.clone())], &[trust]).unwrap();
            // The other kind's key does not verify it.
            let (_, other) = generate(match kind {
                KeyKind::EcdsaP256 => KeyKind::Ed25519,
                KeyKind::Ed25519 => KeyKind::EcdsaP256,
            })
            .unwrap();
            let other = TrustKey::from_pem(other.as_bytes()).unwrap();
            assert!(verify(DIGEST, &[(p, sig)], &[other]).is_err());
        }
    }

    #[test]
    fn a_public_key_is_not_a_private_key() {
        let (_, public) = generate(KeyKind::EcdsaP256).unwrap();
        let e = SigningKey::from_pem(public.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("PRIVATE KEY"), "{e}");
    }
}

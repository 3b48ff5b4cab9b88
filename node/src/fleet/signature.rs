//! Signatures an offline node can check: key-based and cosign-compatible.
//!
//! What is signed is cosign's "simple signing" payload for the version's
//! manifest digest (see [`payload`]); the signature is ECDSA P-256 with
//! SHA-256 (ASN.1 DER, what `cosign sign --key` makes) or Ed25519, carried
//! base64-encoded. Trust keys are PEM `PUBLIC KEY` blocks (SubjectPublicKey
//! Info), as `cosign generate-key-pair` writes `cosign.pub`.
//!
//! [`verify`] refuses rather than assumes: with trust keys configured, a
//! version with no signature, a signature over another digest or by
//! another key is refused; there is no "nothing to check" path.

use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey};
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

/// Why a version's signature is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// A trust key cannot be used.
    #[error("trust key: {0}")]
    Key(String),
    /// Trust keys are configured and the version carries no signature.
    #[error("{digest} is not signed, and this node trusts only signed versions")]
    Unsigned {
        /// The manifest digest.
        digest: String,
    },
    /// The payload is not a simple-signing payload for this digest.
    #[error("the signed payload {0}")]
    Payload(String),
    /// No trust key verifies the signature.
    #[error(
        "no trusted key verifies the signature of {digest} (signed by another key, or changed)"
    )]
    Untrusted {
        /// The manifest digest.
        digest: String,
    },
}

/// A public key this node trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustKey {
    /// ECDSA P-256 (cosign's default): the uncompressed point.
    EcdsaP256(Vec<u8>),
    /// Ed25519: the 32-byte key.
    Ed25519(Vec<u8>),
}

/// DER prefix of a P-256 SubjectPublicKeyInfo, up to the 65-byte point.
const P256_SPKI: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo, up to the 32-byte key.
const ED25519_SPKI: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl TrustKey {
    /// A key from a PEM `PUBLIC KEY` block (P-256 or Ed25519).
    pub fn from_pem(pem: &[u8]) -> Result<TrustKey, SignatureError> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map_err(|e| SignatureError::Key(format!("not a PEM PUBLIC KEY: {e}")))?;
        Self::from_spki(der.as_ref())
    }

    /// A key from DER SubjectPublicKeyInfo.
    pub fn from_spki(der: &[u8]) -> Result<TrustKey, SignatureError> {
        match (der.strip_prefix(P256_SPKI), der.strip_prefix(ED25519_SPKI)) {
            (Some(point), _) if point.len() == 65 && point[0] == 0x04 => {
                Ok(TrustKey::EcdsaP256(point.to_vec()))
            }
            (_, Some(key)) if key.len() == 32 => Ok(TrustKey::Ed25519(key.to_vec())),
            _ => Err(SignatureError::Key(
                "only ECDSA P-256 and Ed25519 public keys are supported".into(),
            )),
        }
    }

    fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        let (alg, key): (&dyn signature::VerificationAlgorithm, &[u8]) = match self {
            TrustKey::EcdsaP256(k) => (&signature::ECDSA_P256_SHA256_ASN1, k),
            TrustKey::Ed25519(k) => (&signature::ED25519, k),
        };
        UnparsedPublicKey::new(alg, key)
            .verify(message, sig)
            .is_ok()
    }
}

/// The DER SubjectPublicKeyInfo of a key (what a PEM `PUBLIC KEY` holds).
pub fn spki_of(key: &TrustKey) -> Vec<u8> {
    match key {
        TrustKey::EcdsaP256(point) => [P256_SPKI, point].concat(),
        TrustKey::Ed25519(k) => [ED25519_SPKI, k].concat(),
    }
}

/// cosign's simple-signing payload.
#[derive(Debug, Serialize, Deserialize)]
struct SimpleSigning {
    critical: Critical,
    optional: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The type cosign writes into every simple-signing payload.
const COSIGN_TYPE: &str = "cosign container image signature";

/// The payload to sign for a manifest `digest` of `repository` (e.g.
/// `registry.example/models/iris`), as cosign writes it.
pub fn payload(repository: &str, digest: &str) -> Vec<u8> {
    let p = SimpleSigning {
        critical: Critical {
            identity: Identity {
                docker_reference: repository.to_string(),
            },
            image: Image {
                docker_manifest_digest: digest.to_string(),
            },
            kind: COSIGN_TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&p).unwrap_or_default()
}

/// Checks that `signature` (base64) over `payload` is made by one of
/// `keys` and that the payload names `digest`. Call it only when the node
/// has trust keys; `signatures` empty is [`SignatureError::Unsigned`].
pub fn verify(
    digest: &str,
    signatures: &[(Vec<u8>, String)],
    keys: &[TrustKey],
) -> Result<(), SignatureError> {
    if keys.is_empty() {
        return Err(SignatureError::Key("no trust key is configured".into()));
    }
    if signatures.is_empty() {
        return Err(SignatureError::Unsigned {
            digest: digest.to_string(),
        });
    }
    for (payload, signature) in signatures {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            continue;
        };
        if !keys.iter().any(|k| k.verifies(payload, &sig)) {
            continue;
        }
        // Signed by a trusted key: now what it says must be this digest.
        let p: SimpleSigning = serde_json::from_slice(payload).map_err(|e| {
            SignatureError::Payload(format!("is not a simple-signing payload: {e}"))
        })?;
        if p.critical.kind != COSIGN_TYPE {
            return Err(SignatureError::Payload(format!(
                "has type '{}', not '{COSIGN_TYPE}'",
                p.critical.kind
            )));
        }
        if p.critical.image.docker_manifest_digest != digest {
            return Err(SignatureError::Payload(format!(
                "is for {}, not {digest} (a signature moved to another version)",
                p.critical.image.docker_manifest_digest
            )));
        }
        return Ok(());
    }
    Err(SignatureError::Untrusted {
        digest: digest.to_string(),
    })
}

#[cfg(test)]
mod tests;

//! The *ring* backend. *ring* cannot generate RSA keys and parses public keys at each verification.
//!
//! Must not: generate an RSA key (*ring* cannot), or accept an RSA private key whose CRT values are inconsistent.

use std::fmt;

pub(super) use ::ring as lib;
use lib::rand::SystemRandom;
use lib::rsa::PublicKeyComponents;
use lib::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, UnparsedPublicKey, VerificationAlgorithm,
};

use crate::alg::Algorithm;
use crate::error::KeyError;

// The same source serves aws-lc-rs and ring (their APIs have one shape), each time over its own `lib`.
#[allow(clippy::duplicate_mod)]
#[path = "ring_like.rs"]
mod imp;

pub(crate) static PROVIDER: imp::RingLike = imp::RingLike("ring");

pub(super) struct Prepared(UnparsedPublicKey<Vec<u8>>);

pub(super) fn prepare(
    alg: &'static dyn VerificationAlgorithm,
    bytes: &[u8],
) -> Result<Prepared, KeyError> {
    Ok(Prepared(UnparsedPublicKey::new(alg, bytes.to_vec())))
}

pub(super) fn verify_prepared(p: &Prepared, msg: &[u8], sig: &[u8]) -> bool {
    p.0.verify(msg, sig).is_ok()
}

/// An RSA public key kept as its components.
pub(super) struct RsaPublic {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaPublicKey")
    }
}

impl RsaPublic {
    pub(super) fn new(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        Ok(RsaPublic {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    pub(super) fn verify_rsa(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        let Some(params) = imp::rsa_params(alg) else {
            return false;
        };
        PublicKeyComponents {
            n: &self.n[..],
            e: &self.e[..],
        }
        .verify(params, msg, sig)
        .is_ok()
    }
}

pub(super) fn ecdsa_from_parts(
    alg: &'static EcdsaSigningAlgorithm,
    d: &[u8],
    point: &[u8],
) -> Result<EcdsaKeyPair, KeyError> {
    EcdsaKeyPair::from_private_key_and_public_key(alg, d, point, &SystemRandom::new())
        .map_err(|_| KeyError::Rejected)
}

pub(super) fn generate_rsa_pkcs8(_bits: usize) -> Result<Vec<u8>, KeyError> {
    Err(KeyError::UnsupportedByBackend("ring"))
}

pub(super) fn rsa_sig_len(k: &lib::signature::RsaKeyPair) -> usize {
    k.public().modulus_len()
}

/// *ring* checks the CRT values only when it signs (it verifies each result), so sign once here to refuse an
/// inconsistent key when it is loaded rather than at first use.
pub(super) fn rsa_check_private(k: &lib::signature::RsaKeyPair) -> Result<(), KeyError> {
    let mut out = vec![0; rsa_sig_len(k)];
    k.sign(
        &lib::signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        b"portcullis key check",
        &mut out,
    )
    .map_err(|_| KeyError::Rejected)
}

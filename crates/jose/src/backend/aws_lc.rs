//! The aws-lc-rs backend (the default). Public keys are parsed once into `ParsedPublicKey`s.
//!
//! Must not: generate an RSA key of other than 2048, 3072, 4096 or 8192 bits, or keep an RSA public key aws-lc-rs
//! cannot parse.

use std::fmt;
use std::sync::OnceLock;

pub(super) use aws_lc_rs as lib;
use lib::encoding::AsDer;
use lib::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, ParsedPublicKey, VerificationAlgorithm,
};

use crate::alg::Algorithm;
use crate::error::KeyError;

// The same source serves aws-lc-rs and ring (their APIs have one shape), each time over its own `lib`.
#[allow(clippy::duplicate_mod)]
#[path = "ring_like.rs"]
mod imp;

pub(crate) static PROVIDER: imp::RingLike = imp::RingLike("aws-lc");

pub(super) struct Prepared(ParsedPublicKey);

pub(super) fn prepare(
    alg: &'static dyn VerificationAlgorithm,
    bytes: &[u8],
) -> Result<Prepared, KeyError> {
    ParsedPublicKey::new(alg, bytes)
        .map(Prepared)
        .map_err(|_| KeyError::Rejected)
}

pub(super) fn verify_prepared(p: &Prepared, msg: &[u8], sig: &[u8]) -> bool {
    p.0.verify_sig(msg, sig).is_ok()
}

/// An RSA public key: PKCS#1 DER, parsed lazily once per algorithm (the parse for RS256 happens up front to
/// validate the key).
pub(super) struct RsaPublic {
    der: Vec<u8>,
    parsed: [OnceLock<Option<ParsedPublicKey>>; 6],
}

impl fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaPublicKey")
    }
}

fn rsa_slot(alg: Algorithm) -> Option<usize> {
    Some(match alg {
        Algorithm::Rs256 => 0,
        Algorithm::Rs384 => 1,
        Algorithm::Rs512 => 2,
        Algorithm::Ps256 => 3,
        Algorithm::Ps384 => 4,
        Algorithm::Ps512 => 5,
        _ => return None,
    })
}

impl RsaPublic {
    pub(super) fn new(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let der = crate::pkcs8::rsa_public_pkcs1_der(n, e)?;
        let key = RsaPublic {
            der,
            parsed: Default::default(),
        };
        let first = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &key.der)
            .map_err(|_| KeyError::Rejected)?;
        let _ = key.parsed[0].set(Some(first));
        Ok(key)
    }

    pub(super) fn verify_rsa(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        let (Some(slot), Some(params)) = (rsa_slot(alg), imp::rsa_params(alg)) else {
            return false;
        };
        self.parsed[slot]
            .get_or_init(|| ParsedPublicKey::new(params, &self.der).ok())
            .as_ref()
            .is_some_and(|k| k.verify_sig(msg, sig).is_ok())
    }
}

pub(super) fn ecdsa_from_parts(
    alg: &'static EcdsaSigningAlgorithm,
    d: &[u8],
    point: &[u8],
) -> Result<EcdsaKeyPair, KeyError> {
    EcdsaKeyPair::from_private_key_and_public_key(alg, d, point).map_err(|_| KeyError::Rejected)
}

pub(super) fn generate_rsa_pkcs8(bits: usize) -> Result<Vec<u8>, KeyError> {
    use lib::rsa::{KeyPair, KeySize};
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        8192 => KeySize::Rsa8192,
        _ => return Err(KeyError::RsaModulusSize { bits }),
    };
    let kp = KeyPair::generate(size).map_err(|_| KeyError::Rejected)?;
    let der = kp.as_der().map_err(|_| KeyError::Rejected)?;
    Ok(der.as_ref().to_vec())
}

pub(super) fn rsa_sig_len(k: &signature::RsaKeyPair) -> usize {
    k.public_modulus_len()
}

/// aws-lc-rs validates every component (CRT values included) when the key is built.
pub(super) fn rsa_check_private(_k: &signature::RsaKeyPair) -> Result<(), KeyError> {
    Ok(())
}

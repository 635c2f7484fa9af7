//! The backend code shared by aws-lc-rs and *ring*, whose APIs have the same shape.
//!
//! The parent module names the library as `lib` and supplies the few functions where the two differ
//! (`prepare`, `verify_prepared`, `RsaPublic`, `ecdsa_from_parts`, `generate_rsa_pkcs8`).
//!
//! Must not: show key material in `Debug`, or sign with RSA under an algorithm that is not RS* or PS*.

use std::fmt;
use std::sync::Arc;

use super::lib::rand::{SecureRandom, SystemRandom};
use super::lib::rsa::{KeyPairComponents, PublicKeyComponents};
use super::lib::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use super::lib::{digest, hmac};
use super::{RsaPublic, ecdsa_from_parts, generate_rsa_pkcs8, prepare, verify_prepared};
use crate::alg::{Algorithm, HashAlg};
use crate::backend::{
    GenerateKind, PrivateKeyOps, PrivateParts, Provider, PublicKeyOps, PublicParts, sec1_point,
};
use crate::error::{Error, KeyError};
use crate::key::EcCurve;

/// The provider value.
pub(crate) struct RingLike(pub(crate) &'static str);

pub(super) fn rsa_params(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn rsa_padding(alg: Algorithm) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match alg {
        Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
        Algorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_SHA512,
        _ => return None,
    })
}

fn ec_verify_alg(curve: EcCurve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        EcCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
        EcCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
    }
}

pub(super) fn ec_sign_alg(curve: EcCurve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        EcCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        EcCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    }
}

struct Public(super::Prepared);

impl fmt::Debug for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey")
    }
}

impl PublicKeyOps for Public {
    fn verify(&self, _alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        verify_prepared(&self.0, msg, sig)
    }
}

impl PublicKeyOps for RsaPublic {
    fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        self.verify_rsa(alg, msg, sig)
    }
}

enum Private {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl fmt::Debug for Private {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKeyOps for Private {
    fn sign(&self, alg: Algorithm, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let rng = SystemRandom::new();
        match self {
            Private::Ec(k) => Ok(k
                .sign(&rng, msg)
                .map_err(|_| Error::Crypto)?
                .as_ref()
                .to_vec()),
            Private::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
            Private::Rsa(k) => {
                let padding = rsa_padding(alg).ok_or(Error::KeyAlgorithmMismatch(alg))?;
                let mut out = vec![0; super::rsa_sig_len(k)];
                k.sign(padding, &rng, msg, &mut out)
                    .map_err(|_| Error::Crypto)?;
                Ok(out)
            }
        }
    }
}

fn hmac_alg(hash: HashAlg) -> hmac::Algorithm {
    match hash {
        HashAlg::Sha256 => hmac::HMAC_SHA256,
        HashAlg::Sha384 => hmac::HMAC_SHA384,
        HashAlg::Sha512 => hmac::HMAC_SHA512,
    }
}

impl Provider for RingLike {
    fn name(&self) -> &'static str {
        self.0
    }

    fn public_key(&self, parts: PublicParts<'_>) -> Result<Arc<dyn PublicKeyOps>, KeyError> {
        Ok(match parts {
            PublicParts::Ec { curve, x, y } => {
                Arc::new(Public(prepare(ec_verify_alg(curve), &sec1_point(x, y))?))
            }
            PublicParts::Ed25519 { x } => Arc::new(Public(prepare(&signature::ED25519, x)?)),
            PublicParts::Rsa { n, e } => Arc::new(RsaPublic::new(n, e)?),
        })
    }

    fn private_key(&self, parts: PrivateParts<'_>) -> Result<Arc<dyn PrivateKeyOps>, KeyError> {
        let private = match parts {
            PrivateParts::Ec { curve, d, x, y } => {
                Private::Ec(ecdsa_from_parts(ec_sign_alg(curve), d, &sec1_point(x, y))?)
            }
            PrivateParts::Ed25519 { d, x } => Private::Ed(
                Ed25519KeyPair::from_seed_and_public_key(d, x).map_err(|_| KeyError::Rejected)?,
            ),
            PrivateParts::Rsa { n, e, private } => {
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents { n, e },
                    d: &private.d[..],
                    p: &private.p[..],
                    q: &private.q[..],
                    dP: &private.dp[..],
                    dQ: &private.dq[..],
                    qInv: &private.qi[..],
                };
                let kp =
                    RsaKeyPair::from_components(&components).map_err(|_| KeyError::Rejected)?;
                super::rsa_check_private(&kp)?;
                Private::Rsa(kp)
            }
        };
        Ok(Arc::new(private))
    }

    fn generate_pkcs8(&self, kind: GenerateKind) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match kind {
            GenerateKind::Ec(curve) => EcdsaKeyPair::generate_pkcs8(ec_sign_alg(curve), &rng)
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| KeyError::Rejected),
            GenerateKind::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng)
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| KeyError::Rejected),
            GenerateKind::Rsa { bits } => generate_rsa_pkcs8(bits),
        }
    }

    fn hmac_sign(&self, hash: HashAlg, key: &[u8], msg: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(hmac_alg(hash), key), msg)
            .as_ref()
            .to_vec()
    }

    fn hmac_verify(&self, hash: HashAlg, key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&hmac::Key::new(hmac_alg(hash), key), msg, tag).is_ok()
    }

    fn digest(&self, hash: HashAlg, data: &[u8]) -> Vec<u8> {
        let alg = match hash {
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), Error> {
        SystemRandom::new().fill(buf).map_err(|_| Error::Crypto)
    }

    fn ed25519_public(&self, seed: &[u8]) -> Result<Vec<u8>, KeyError> {
        use signature::KeyPair as _;
        let kp = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| KeyError::Rejected)?;
        Ok(kp.public_key().as_ref().to_vec())
    }
}

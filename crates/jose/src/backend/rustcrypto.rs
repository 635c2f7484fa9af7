//! The RustCrypto backend: pure Rust (p256, p384, rsa, ed25519-dalek, hmac, sha2).
//!
//! Must not: accept a private key whose public part or CRT values disagree with it, or generate an RSA key outside
//! 2048..=8192 bits.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::alg::{Algorithm, HashAlg};
use crate::backend::{
    GenerateKind, PrivateKeyOps, PrivateParts, Provider, PublicKeyOps, PublicParts, sec1_point,
};
use crate::error::{Error, KeyError};
use crate::key::{EcCurve, RsaPrivateParts};
use crate::pkcs8;

pub(crate) struct RustCrypto;

pub(crate) static PROVIDER: RustCrypto = RustCrypto;

enum Public {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(RsaPublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey")
    }
}

fn digest(hash: HashAlg, data: &[u8]) -> Vec<u8> {
    match hash {
        HashAlg::Sha256 => Sha256::digest(data).to_vec(),
        HashAlg::Sha384 => Sha384::digest(data).to_vec(),
        HashAlg::Sha512 => Sha512::digest(data).to_vec(),
    }
}

fn pkcs1v15(hash: HashAlg) -> Pkcs1v15Sign {
    match hash {
        HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    }
}

fn pss(hash: HashAlg) -> Pss {
    // Salt length equals the hash length (RFC 7518 §3.5).
    match hash {
        HashAlg::Sha256 => Pss::new::<Sha256>(),
        HashAlg::Sha384 => Pss::new::<Sha384>(),
        HashAlg::Sha512 => Pss::new::<Sha512>(),
    }
}

fn is_pss(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::Ps256 | Algorithm::Ps384 | Algorithm::Ps512)
}

impl PublicKeyOps for Public {
    fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
        use ecdsa_verify::Verifier as _;
        match self {
            Public::P256(k) => {
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
            Public::P384(k) => {
                p384::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(msg, &s).is_ok())
            }
            Public::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(msg, &s).is_ok()),
            Public::Rsa(k) => {
                let hashed = digest(alg.hash(), msg);
                if is_pss(alg) {
                    k.verify(pss(alg.hash()), &hashed, sig).is_ok()
                } else {
                    k.verify(pkcs1v15(alg.hash()), &hashed, sig).is_ok()
                }
            }
        }
    }
}

mod ecdsa_verify {
    pub(super) use p256::ecdsa::signature::Verifier;
}

enum Private {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<RsaPrivateKey>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl fmt::Debug for Private {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKeyOps for Private {
    fn sign(&self, alg: Algorithm, msg: &[u8]) -> Result<Vec<u8>, Error> {
        use p256::ecdsa::signature::Signer as _;
        Ok(match self {
            Private::P256(k) => {
                let s: p256::ecdsa::Signature = k.try_sign(msg).map_err(|_| Error::Crypto)?;
                s.to_bytes().to_vec()
            }
            Private::P384(k) => {
                let s: p384::ecdsa::Signature = k.try_sign(msg).map_err(|_| Error::Crypto)?;
                s.to_bytes().to_vec()
            }
            Private::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Private::Rsa(k) => {
                let hashed = digest(alg.hash(), msg);
                // Both paddings go through the blinded, randomised private operation.
                if is_pss(alg) {
                    k.sign_with_rng(&mut OsRng, pss(alg.hash()), &hashed)
                } else {
                    k.sign_with_rng(&mut OsRng, pkcs1v15(alg.hash()), &hashed)
                }
                .map_err(|_| Error::Crypto)?
            }
        })
    }
}

fn array32(b: &[u8]) -> Result<&[u8; 32], KeyError> {
    b.try_into().map_err(|_| KeyError::Rejected)
}

fn rsa_private(n: &[u8], e: &[u8], p: &RsaPrivateParts) -> Result<RsaPrivateKey, KeyError> {
    let big = BigUint::from_bytes_be;
    let mut key =
        RsaPrivateKey::from_components(big(n), big(e), big(&p.d), vec![big(&p.p), big(&p.q)])
            .map_err(|_| KeyError::Rejected)?;
    key.validate().map_err(|_| KeyError::Rejected)?;
    key.precompute().map_err(|_| KeyError::Rejected)?;
    // The crate recomputes the CRT values; refuse a JWK whose own CRT values disagree.
    let same = |mine: Option<&BigUint>, given: &[u8]| mine.is_some_and(|m| *m == big(given));
    if !(same(key.dp(), &p.dp) && same(key.dq(), &p.dq)) {
        return Err(KeyError::Rejected);
    }
    let qinv_ok = key.crt_coefficient().is_some_and(|c| c == big(&p.qi));
    if !qinv_ok {
        return Err(KeyError::Rejected);
    }
    Ok(key)
}

impl Provider for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn public_key(&self, parts: PublicParts<'_>) -> Result<Arc<dyn PublicKeyOps>, KeyError> {
        let key = match parts {
            PublicParts::Ec {
                curve: EcCurve::P256,
                x,
                y,
            } => Public::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1_point(x, y))
                    .map_err(|_| KeyError::Rejected)?,
            ),
            PublicParts::Ec {
                curve: EcCurve::P384,
                x,
                y,
            } => Public::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1_point(x, y))
                    .map_err(|_| KeyError::Rejected)?,
            ),
            PublicParts::Ed25519 { x } => Public::Ed25519(
                ed25519_dalek::VerifyingKey::from_bytes(array32(x)?)
                    .map_err(|_| KeyError::Rejected)?,
            ),
            PublicParts::Rsa { n, e } => Public::Rsa(
                RsaPublicKey::new_with_max_size(
                    BigUint::from_bytes_be(n),
                    BigUint::from_bytes_be(e),
                    8192,
                )
                .map_err(|_| KeyError::Rejected)?,
            ),
        };
        Ok(Arc::new(key))
    }

    fn private_key(&self, parts: PrivateParts<'_>) -> Result<Arc<dyn PrivateKeyOps>, KeyError> {
        let key = match parts {
            PrivateParts::Ec {
                curve: EcCurve::P256,
                d,
                x,
                y,
            } => {
                let k = p256::ecdsa::SigningKey::from_slice(d).map_err(|_| KeyError::Rejected)?;
                if k.verifying_key().to_encoded_point(false).as_bytes() != sec1_point(x, y) {
                    return Err(KeyError::Rejected);
                }
                Private::P256(k)
            }
            PrivateParts::Ec {
                curve: EcCurve::P384,
                d,
                x,
                y,
            } => {
                let k = p384::ecdsa::SigningKey::from_slice(d).map_err(|_| KeyError::Rejected)?;
                if k.verifying_key().to_encoded_point(false).as_bytes() != sec1_point(x, y) {
                    return Err(KeyError::Rejected);
                }
                Private::P384(k)
            }
            PrivateParts::Ed25519 { d, x } => {
                let k = ed25519_dalek::SigningKey::from_bytes(array32(d)?);
                if k.verifying_key().as_bytes() != x {
                    return Err(KeyError::Rejected);
                }
                Private::Ed25519(Box::new(k))
            }
            PrivateParts::Rsa { n, e, private } => {
                Private::Rsa(Box::new(rsa_private(n, e, private)?))
            }
        };
        Ok(Arc::new(key))
    }

    fn generate_pkcs8(&self, kind: GenerateKind) -> Result<Vec<u8>, KeyError> {
        match kind {
            GenerateKind::Ec(EcCurve::P256) => {
                let k = p256::ecdsa::SigningKey::random(&mut OsRng);
                let point = k.verifying_key().to_encoded_point(false);
                pkcs8::ec_private_pkcs8_der(EcCurve::P256, &k.to_bytes(), point.as_bytes())
            }
            GenerateKind::Ec(EcCurve::P384) => {
                let k = p384::ecdsa::SigningKey::random(&mut OsRng);
                let point = k.verifying_key().to_encoded_point(false);
                pkcs8::ec_private_pkcs8_der(EcCurve::P384, &k.to_bytes(), point.as_bytes())
            }
            GenerateKind::Ed25519 => {
                let k = ed25519_dalek::SigningKey::generate(&mut OsRng);
                pkcs8::ed25519_private_pkcs8_der(k.as_bytes())
            }
            GenerateKind::Rsa { bits } => {
                if !(2048..=8192).contains(&bits) {
                    return Err(KeyError::RsaModulusSize { bits });
                }
                let mut k = RsaPrivateKey::new(&mut OsRng, bits).map_err(|_| KeyError::Rejected)?;
                k.precompute().map_err(|_| KeyError::Rejected)?;
                let primes = k.primes();
                let bytes = |b: &BigUint| zeroize::Zeroizing::new(b.to_bytes_be());
                let (Some(dp), Some(dq), Some(qi)) = (k.dp(), k.dq(), k.crt_coefficient()) else {
                    return Err(KeyError::Rejected);
                };
                let parts = RsaPrivateParts {
                    d: bytes(k.d()),
                    p: bytes(&primes[0]),
                    q: bytes(&primes[1]),
                    dp: bytes(dp),
                    dq: bytes(dq),
                    qi: bytes(&qi),
                };
                pkcs8::rsa_private_pkcs8_der(&k.n().to_bytes_be(), &k.e().to_bytes_be(), &parts)
            }
        }
    }

    fn hmac_sign(&self, hash: HashAlg, key: &[u8], msg: &[u8]) -> Vec<u8> {
        macro_rules! mac {
            ($h:ty) => {{
                let mut m = <Hmac<$h>>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }};
        }
        match hash {
            HashAlg::Sha256 => mac!(Sha256),
            HashAlg::Sha384 => mac!(Sha384),
            HashAlg::Sha512 => mac!(Sha512),
        }
    }

    fn hmac_verify(&self, hash: HashAlg, key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
        macro_rules! mac {
            ($h:ty) => {{
                let Ok(mut m) = <Hmac<$h>>::new_from_slice(key) else {
                    return false;
                };
                m.update(msg);
                m.verify_slice(tag).is_ok()
            }};
        }
        match hash {
            HashAlg::Sha256 => mac!(Sha256),
            HashAlg::Sha384 => mac!(Sha384),
            HashAlg::Sha512 => mac!(Sha512),
        }
    }

    fn digest(&self, hash: HashAlg, data: &[u8]) -> Vec<u8> {
        digest(hash, data)
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), Error> {
        OsRng.try_fill_bytes(buf).map_err(|_| Error::Crypto)
    }

    fn ed25519_public(&self, seed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let k = ed25519_dalek::SigningKey::from_bytes(array32(seed)?);
        Ok(k.verifying_key().as_bytes().to_vec())
    }
}

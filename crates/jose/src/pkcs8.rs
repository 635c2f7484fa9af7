//! PKCS#8 (RFC 5208/5958) and PEM (RFC 7468) encoding of private keys, through the RustCrypto `der` family of
//! crates (encoding only: no crypto happens here).
//!
//! Must not: do crypto (encoding only), or read an EC key without its public point or a multi-prime RSA key.

use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef, UintRef};
use pkcs8::der::pem::{self, LineEnding};
use pkcs8::der::{Decode, Encode};
use pkcs8::{AlgorithmIdentifierRef, PrivateKeyInfo};
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::key::{EcCurve, RsaPrivateParts};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The PEM label of a PKCS#8 private key.
pub(crate) const PEM_LABEL: &str = "PRIVATE KEY";

/// A private key read from PKCS#8, as raw big-endian components.
pub(crate) enum DecodedPrivate {
    Ec {
        curve: EcCurve,
        d: Zeroizing<Vec<u8>>,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        parts: RsaPrivateParts,
    },
    Ed25519 {
        d: Zeroizing<Vec<u8>>,
        x: Option<Vec<u8>>,
    },
}

fn bad<E>(_: E) -> KeyError {
    KeyError::InvalidPkcs8
}

fn curve_oid(curve: EcCurve) -> ObjectIdentifier {
    match curve {
        EcCurve::P256 => P256,
        EcCurve::P384 => P384,
    }
}

/// PKCS#1 `RSAPublicKey` DER from big-endian `n` and `e`.
#[allow(dead_code)] // used by the aws-lc backend only
pub(crate) fn rsa_public_pkcs1_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, KeyError> {
    pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).map_err(bad)?,
        public_exponent: UintRef::new(e).map_err(bad)?,
    }
    .to_der()
    .map_err(bad)
}

fn wrap(
    oid: ObjectIdentifier,
    params: Option<AnyRef<'_>>,
    key: &[u8],
    public: Option<&[u8]>,
) -> Result<Vec<u8>, KeyError> {
    let mut info = PrivateKeyInfo::new(
        AlgorithmIdentifierRef {
            oid,
            parameters: params,
        },
        key,
    );
    info.public_key = public;
    info.to_der().map_err(bad)
}

/// PKCS#8 for an EC key (RFC 5915 `ECPrivateKey` inside, with the public point).
pub(crate) fn ec_private_pkcs8_der(
    curve: EcCurve,
    d: &[u8],
    point: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let inner = Zeroizing::new(
        sec1::EcPrivateKey {
            private_key: d,
            parameters: None,
            public_key: Some(point),
        }
        .to_der()
        .map_err(bad)?,
    );
    let oid = curve_oid(curve);
    wrap(EC_PUBLIC_KEY, Some(AnyRef::from(&oid)), &inner, None)
}

/// PKCS#8 v1 for an Ed25519 key (RFC 8410 §7): the seed only, as OpenSSL writes it and every reader accepts.
/// (Reading accepts v2 with the public key too, and checks that it matches the seed.)
pub(crate) fn ed25519_private_pkcs8_der(seed: &[u8]) -> Result<Vec<u8>, KeyError> {
    let inner = Zeroizing::new(
        OctetStringRef::new(seed)
            .map_err(bad)?
            .to_der()
            .map_err(bad)?,
    );
    wrap(ED25519, None, &inner, None)
}

/// PKCS#8 for an RSA key (PKCS#1 `RSAPrivateKey` inside).
pub(crate) fn rsa_private_pkcs8_der(
    n: &[u8],
    e: &[u8],
    p: &RsaPrivateParts,
) -> Result<Vec<u8>, KeyError> {
    fn u(b: &[u8]) -> Result<UintRef<'_>, KeyError> {
        UintRef::new(b).map_err(bad)
    }
    let inner = Zeroizing::new(
        pkcs1::RsaPrivateKey {
            modulus: u(n)?,
            public_exponent: u(e)?,
            private_exponent: u(&p.d)?,
            prime1: u(&p.p)?,
            prime2: u(&p.q)?,
            exponent1: u(&p.dp)?,
            exponent2: u(&p.dq)?,
            coefficient: u(&p.qi)?,
            other_prime_infos: None,
        }
        .to_der()
        .map_err(bad)?,
    );
    wrap(RSA_ENCRYPTION, Some(AnyRef::NULL), &inner, None)
}

/// Left-pads a big-endian integer to `len` bytes (for EC scalars, which JWK wants at full length).
fn pad_to(b: &[u8], len: usize) -> Result<Vec<u8>, KeyError> {
    if b.len() > len {
        return Err(KeyError::InvalidPkcs8);
    }
    let mut v = vec![0; len - b.len()];
    v.extend_from_slice(b);
    Ok(v)
}

/// Reads a PKCS#8 `PrivateKeyInfo` (v1 or v2) holding a P-256, P-384, RSA or Ed25519 key.
pub(crate) fn decode_private(der: &[u8]) -> Result<DecodedPrivate, KeyError> {
    let info = PrivateKeyInfo::from_der(der).map_err(bad)?;
    let alg = info.algorithm;
    if alg.oid == EC_PUBLIC_KEY {
        let curve_oid: ObjectIdentifier = alg.parameters_oid().map_err(bad)?;
        let curve = match curve_oid {
            P256 => EcCurve::P256,
            P384 => EcCurve::P384,
            other => return Err(KeyError::UnsupportedCurve(other.to_string())),
        };
        let ec = sec1::EcPrivateKey::from_der(info.private_key).map_err(bad)?;
        if let Some(params) = ec.parameters
            && params.named_curve() != Some(curve_oid)
        {
            return Err(KeyError::InvalidPkcs8);
        }
        let len = curve.coordinate_len();
        let d = Zeroizing::new(pad_to(ec.private_key, len)?);
        // The public point is optional in RFC 5915; every common producer includes it, and we require it.
        let point = ec.public_key.ok_or(KeyError::InvalidPkcs8)?;
        if point.len() != 1 + 2 * len || point[0] != 4 {
            return Err(KeyError::InvalidPkcs8);
        }
        Ok(DecodedPrivate::Ec {
            curve,
            d,
            x: point[1..=len].to_vec(),
            y: point[1 + len..].to_vec(),
        })
    } else if alg.oid == RSA_ENCRYPTION {
        if alg.parameters.is_some_and(|p| p != AnyRef::NULL) {
            return Err(KeyError::InvalidPkcs8);
        }
        let k = pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(bad)?;
        if k.other_prime_infos.is_some() {
            return Err(KeyError::MultiPrimeRsa);
        }
        let z = |u: UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
        Ok(DecodedPrivate::Rsa {
            n: k.modulus.as_bytes().to_vec(),
            e: k.public_exponent.as_bytes().to_vec(),
            parts: RsaPrivateParts {
                d: z(k.private_exponent),
                p: z(k.prime1),
                q: z(k.prime2),
                dp: z(k.exponent1),
                dq: z(k.exponent2),
                qi: z(k.coefficient),
            },
        })
    } else if alg.oid == ED25519 {
        if alg.parameters.is_some() {
            return Err(KeyError::InvalidPkcs8);
        }
        let seed = OctetStringRef::from_der(info.private_key).map_err(bad)?;
        if seed.as_bytes().len() != 32 {
            return Err(KeyError::InvalidPkcs8);
        }
        let x = match info.public_key {
            Some(p) if p.len() == 32 => Some(p.to_vec()),
            Some(_) => return Err(KeyError::InvalidPkcs8),
            None => None,
        };
        Ok(DecodedPrivate::Ed25519 {
            d: Zeroizing::new(seed.as_bytes().to_vec()),
            x,
        })
    } else {
        Err(KeyError::UnsupportedKeyType(alg.oid.to_string()))
    }
}

/// Decodes a PEM `PRIVATE KEY` document (RFC 7468 strict) to DER.
pub(crate) fn pem_decode(pem_text: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (label, der) = pem::decode_vec(pem_text.trim().as_bytes()).map_err(bad)?;
    let der = Zeroizing::new(der);
    if label != PEM_LABEL {
        return Err(KeyError::InvalidPkcs8);
    }
    Ok(der)
}

/// Encodes DER as a PEM `PRIVATE KEY` document with LF line endings.
pub(crate) fn pem_encode(der: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    pem::encode_string(PEM_LABEL, LineEnding::LF, der)
        .map(Zeroizing::new)
        .map_err(bad)
}

//! Strict parsing of one JWK from JSON: canonical base64url members of the exact length, RSA public-key bounds,
//! no duplicate `key_ops`, an `alg` that fits the key type. Must not serialize or build crypto keys.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{Jwk, JwkAlgorithm, KeyOperation, KeyUse, MAX_JWK_LEN, Material};
use crate::alg::Algorithm;
use crate::b64;
use crate::error::{Error, KeyError, Part};
use crate::json;
use crate::key::{EcCurve, RsaPrivateParts};

fn get_str<'a>(m: &'a Map<String, Value>, name: &'static str) -> Result<Option<&'a str>, KeyError> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyError::InvalidMember(name)),
    }
}

fn b64_member(m: &Map<String, Value>, name: &'static str) -> Result<Option<Vec<u8>>, KeyError> {
    match get_str(m, name)? {
        None => Ok(None),
        Some(s) => b64::decode(s.as_bytes(), Part::Jwk)
            .map(Some)
            .map_err(|_| KeyError::InvalidMember(name)),
    }
}

fn required(m: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    b64_member(m, name)?.ok_or(KeyError::MissingMember(name))
}

fn fixed(
    m: &Map<String, Value>,
    name: &'static str,
    len: usize,
) -> Result<Option<Vec<u8>>, KeyError> {
    match b64_member(m, name)? {
        Some(v) if v.len() != len => Err(KeyError::InvalidMember(name)),
        other => Ok(other),
    }
}

/// A Base64urlUInt (RFC 7518 §2): non-empty, no leading zero octet.
fn uint(m: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    let v = required(m, name)?;
    if v.is_empty() || v[0] == 0 {
        return Err(KeyError::InvalidMember(name));
    }
    Ok(v)
}

fn modulus_bits(n: &[u8]) -> usize {
    n.first()
        .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize)
}

pub(super) fn check_rsa_public(n: &[u8], e: &[u8]) -> Result<(), KeyError> {
    let bits = modulus_bits(n);
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::RsaModulusSize { bits });
    }
    // e: odd, at least 3, at most 33 bits (what aws-lc-rs and ring accept).
    let e_ok = !e.is_empty()
        && e.len() <= 5
        && e[e.len() - 1] & 1 == 1
        && !(e.len() == 1 && e[0] < 3)
        && !(e.len() == 5 && e[0] > 1);
    if !e_ok {
        return Err(KeyError::InvalidMember("e"));
    }
    Ok(())
}

const KNOWN_MEMBERS: &[&str] = &[
    "kty", "use", "key_ops", "alg", "kid", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq",
    "qi", "oth", "k",
];

impl Jwk {
    /// Parses one JWK from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Jwk, Error> {
        if bytes.len() > MAX_JWK_LEN {
            return Err(Error::TokenTooLarge {
                len: bytes.len(),
                limit: MAX_JWK_LEN,
            });
        }
        let map = json::parse_object(bytes, Part::Jwk)?;
        Ok(Jwk::from_map(&map)?)
    }

    /// Parses one JWK from an already-parsed JSON object.
    pub fn from_map(m: &Map<String, Value>) -> Result<Jwk, KeyError> {
        let kty = get_str(m, "kty")?.ok_or(KeyError::MissingMember("kty"))?;
        let material = match kty {
            "EC" => {
                let crv = get_str(m, "crv")?.ok_or(KeyError::MissingMember("crv"))?;
                let curve = EcCurve::from_name(crv)
                    .ok_or_else(|| KeyError::UnsupportedCurve(crv.chars().take(32).collect()))?;
                let len = curve.coordinate_len();
                Material::Ec {
                    curve,
                    x: fixed(m, "x", len)?.ok_or(KeyError::MissingMember("x"))?,
                    y: fixed(m, "y", len)?.ok_or(KeyError::MissingMember("y"))?,
                    d: fixed(m, "d", len)?.map(Zeroizing::new),
                }
            }
            "RSA" => {
                let n = uint(m, "n")?;
                let e = uint(m, "e")?;
                check_rsa_public(&n, &e)?;
                if m.contains_key("oth") {
                    return Err(KeyError::MultiPrimeRsa);
                }
                let private = if m.contains_key("d") {
                    let z = |name| uint(m, name).map(Zeroizing::new);
                    Some(Box::new(RsaPrivateParts {
                        d: z("d")?,
                        p: z("p")?,
                        q: z("q")?,
                        dp: z("dp")?,
                        dq: z("dq")?,
                        qi: z("qi")?,
                    }))
                } else {
                    None
                };
                Material::Rsa { n, e, private }
            }
            "OKP" => {
                let crv = get_str(m, "crv")?.ok_or(KeyError::MissingMember("crv"))?;
                if crv != "Ed25519" {
                    return Err(KeyError::UnsupportedCurve(crv.chars().take(32).collect()));
                }
                Material::Ed25519 {
                    x: fixed(m, "x", 32)?.ok_or(KeyError::MissingMember("x"))?,
                    d: fixed(m, "d", 32)?.map(Zeroizing::new),
                }
            }
            "oct" => {
                let k = required(m, "k")?;
                if k.is_empty() {
                    return Err(KeyError::InvalidMember("k"));
                }
                Material::Oct {
                    k: Zeroizing::new(k),
                }
            }
            other => {
                return Err(KeyError::UnsupportedKeyType(
                    other.chars().take(32).collect(),
                ));
            }
        };
        let key_use = get_str(m, "use")?.map(|s| match s {
            "sig" => KeyUse::Signature,
            "enc" => KeyUse::Encryption,
            o => KeyUse::Other(o.to_owned()),
        });
        let key_ops = match m.get("key_ops") {
            None => None,
            Some(Value::Array(items)) => {
                let mut ops = Vec::with_capacity(items.len());
                for item in items {
                    let Value::String(s) = item else {
                        return Err(KeyError::InvalidMember("key_ops"));
                    };
                    let op = match s.as_str() {
                        "sign" => KeyOperation::Sign,
                        "verify" => KeyOperation::Verify,
                        o => KeyOperation::Other(o.to_owned()),
                    };
                    if ops.contains(&op) {
                        return Err(KeyError::InvalidMember("key_ops"));
                    }
                    ops.push(op);
                }
                Some(ops)
            }
            Some(_) => return Err(KeyError::InvalidMember("key_ops")),
        };
        let kid = get_str(m, "kid")?.map(str::to_owned);
        let mut jwk = Jwk {
            material,
            kid,
            key_use,
            key_ops,
            alg: None,
            extra: Map::new(),
        };
        if let Some(a) = get_str(m, "alg")? {
            jwk.alg = Some(match a.parse::<Algorithm>() {
                Ok(alg) if alg.family() == jwk.family() => JwkAlgorithm::Jws(alg),
                Ok(alg) => return Err(KeyError::AlgorithmMismatch(alg)),
                Err(_) => JwkAlgorithm::Other(a.to_owned()),
            });
        }
        for (k, v) in m {
            if !KNOWN_MEMBERS.contains(&k.as_str()) {
                jwk.extra.insert(k.clone(), v.clone());
            }
        }
        Ok(jwk)
    }
}

impl std::str::FromStr for Jwk {
    type Err = Error;
    fn from_str(s: &str) -> Result<Jwk, Error> {
        Jwk::from_json(s.as_bytes())
    }
}

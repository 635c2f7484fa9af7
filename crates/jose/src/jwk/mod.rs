//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2) and RFC 7638 thumbprints.

mod set;

/// Size limits of JWK Sets.
pub(crate) mod set_limits {
    pub use super::set::{MAX_JWKS_KEYS, MAX_JWKS_LEN};
}

pub use set::JwkSet;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, HashAlg, KeyFamily};
use crate::b64;
use crate::backend::{Backend, GenerateKind, PrivateParts, PublicParts};
use crate::error::{Error, KeyError, Part};
use crate::json;
use crate::key::{EcCurve, HmacKey, KeyConstraints, RsaPrivateParts, SigningKey, VerifyingKey};
use crate::pkcs8::{self, DecodedPrivate};

/// Largest JWK accepted, in bytes of JSON.
pub const MAX_JWK_LEN: usize = 64 * 1024;

/// The `use` member (RFC 7517 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUse {
    /// `sig`
    Signature,
    /// `enc`
    Encryption,
    /// Any other value (kept, never matched).
    Other(String),
}

impl KeyUse {
    fn as_str(&self) -> &str {
        match self {
            KeyUse::Signature => "sig",
            KeyUse::Encryption => "enc",
            KeyUse::Other(s) => s,
        }
    }
}

/// One `key_ops` entry (RFC 7517 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOperation {
    /// `sign`
    Sign,
    /// `verify`
    Verify,
    /// Any other value (`encrypt`, `wrapKey`, ...).
    Other(String),
}

impl KeyOperation {
    fn as_str(&self) -> &str {
        match self {
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::Other(s) => s,
        }
    }
}

/// The `alg` member of a JWK: a JWS algorithm this crate knows, or another registered name (kept, and such a
/// key is never used for JWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwkAlgorithm {
    /// A JWS algorithm.
    Jws(Algorithm),
    /// Something else, such as `RSA-OAEP`.
    Other(String),
}

#[derive(Clone)]
enum Material {
    Ec {
        curve: EcCurve,
        x: Vec<u8>,
        y: Vec<u8>,
        d: Option<Zeroizing<Vec<u8>>>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        private: Option<Box<RsaPrivateParts>>,
    },
    Ed25519 {
        x: Vec<u8>,
        d: Option<Zeroizing<Vec<u8>>>,
    },
    Oct {
        k: Zeroizing<Vec<u8>>,
    },
}

/// A JSON Web Key: EC (P-256, P-384), RSA (2048 to 8192 bits), OKP (Ed25519) or oct.
///
/// Parsing is strict: base64url members must be canonical and of the exact length the key type needs, duplicate
/// members are refused, RSA moduli under 2048 bits are refused, and an `alg` that does not fit the key type is an
/// error.
///
/// ```
/// use portcullis_jose::{Algorithm, Jwk};
/// let private = Jwk::generate(Algorithm::Es256).unwrap();
/// let public = private.to_public().unwrap();
/// assert!(!public.is_private());
/// assert_eq!(private.thumbprint(), public.thumbprint());
/// let again: Jwk = public.to_json().parse().unwrap();
/// assert_eq!(again.thumbprint(), public.thumbprint());
/// ```
#[derive(Clone)]
pub struct Jwk {
    material: Material,
    kid: Option<String>,
    key_use: Option<KeyUse>,
    key_ops: Option<Vec<KeyOperation>>,
    alg: Option<JwkAlgorithm>,
    /// Other members (e.g. `x5c`), kept for round trips, never interpreted.
    extra: Map<String, Value>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty())
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

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

fn check_rsa_public(n: &[u8], e: &[u8]) -> Result<(), KeyError> {
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

    /// The `kty` value.
    pub fn kty(&self) -> &'static str {
        match self.material {
            Material::Ec { .. } => "EC",
            Material::Rsa { .. } => "RSA",
            Material::Ed25519 { .. } => "OKP",
            Material::Oct { .. } => "oct",
        }
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        match &self.material {
            Material::Ec { curve, .. } => curve.family(),
            Material::Rsa { .. } => KeyFamily::Rsa,
            Material::Ed25519 { .. } => KeyFamily::Ed25519,
            Material::Oct { .. } => KeyFamily::Symmetric,
        }
    }

    /// The `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Sets or clears the `kid`.
    pub fn set_kid(&mut self, kid: Option<String>) {
        self.kid = kid;
    }

    /// The `alg` member.
    pub fn alg(&self) -> Option<&JwkAlgorithm> {
        self.alg.as_ref()
    }

    /// Sets the `alg` member; it must fit the key family.
    pub fn set_alg(&mut self, alg: Algorithm) -> Result<(), KeyError> {
        if alg.family() != self.family() {
            return Err(KeyError::AlgorithmMismatch(alg));
        }
        self.alg = Some(JwkAlgorithm::Jws(alg));
        Ok(())
    }

    /// The `use` member.
    pub fn key_use(&self) -> Option<&KeyUse> {
        self.key_use.as_ref()
    }

    /// Sets or clears the `use` member.
    pub fn set_key_use(&mut self, key_use: Option<KeyUse>) {
        self.key_use = key_use;
    }

    /// The `key_ops` member.
    pub fn key_ops(&self) -> Option<&[KeyOperation]> {
        self.key_ops.as_deref()
    }

    /// Whether the JWK holds private (or secret) material.
    pub fn is_private(&self) -> bool {
        match &self.material {
            Material::Ec { d, .. } | Material::Ed25519 { d, .. } => d.is_some(),
            Material::Rsa { private, .. } => private.is_some(),
            Material::Oct { .. } => true,
        }
    }

    /// The public part only (no `d`, no RSA primes, no unknown members; `key_ops` reduced to `verify`).
    /// `None` for an `oct` key, which has no public part.
    pub fn to_public(&self) -> Option<Jwk> {
        let material = match &self.material {
            Material::Ec { curve, x, y, .. } => Material::Ec {
                curve: *curve,
                x: x.clone(),
                y: y.clone(),
                d: None,
            },
            Material::Rsa { n, e, .. } => Material::Rsa {
                n: n.clone(),
                e: e.clone(),
                private: None,
            },
            Material::Ed25519 { x, .. } => Material::Ed25519 {
                x: x.clone(),
                d: None,
            },
            Material::Oct { .. } => return None,
        };
        let key_ops = self.key_ops.as_ref().map(|ops| {
            ops.iter()
                .filter(|o| matches!(o, KeyOperation::Verify | KeyOperation::Sign))
                .map(|_| KeyOperation::Verify)
                .take(1)
                .collect()
        });
        Some(Jwk {
            material,
            kid: self.kid.clone(),
            key_use: self.key_use.clone(),
            key_ops,
            alg: self.alg.clone(),
            extra: Map::new(),
        })
    }

    /// The JSON object (including private members, if any).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let s = |v: &[u8]| Value::String(b64::encode(v));
        m.insert("kty".into(), self.kty().into());
        match &self.material {
            Material::Ec { curve, x, y, d } => {
                m.insert("crv".into(), curve.name().into());
                m.insert("x".into(), s(x));
                m.insert("y".into(), s(y));
                if let Some(d) = d {
                    m.insert("d".into(), s(d));
                }
            }
            Material::Rsa { n, e, private } => {
                m.insert("n".into(), s(n));
                m.insert("e".into(), s(e));
                if let Some(p) = private {
                    for (name, v) in [
                        ("d", &p.d),
                        ("p", &p.p),
                        ("q", &p.q),
                        ("dp", &p.dp),
                        ("dq", &p.dq),
                        ("qi", &p.qi),
                    ] {
                        m.insert(name.into(), s(v));
                    }
                }
            }
            Material::Ed25519 { x, d } => {
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), s(x));
                if let Some(d) = d {
                    m.insert("d".into(), s(d));
                }
            }
            Material::Oct { k } => {
                m.insert("k".into(), s(k));
            }
        }
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.clone().into());
        }
        if let Some(u) = &self.key_use {
            m.insert("use".into(), u.as_str().into());
        }
        if let Some(ops) = &self.key_ops {
            m.insert(
                "key_ops".into(),
                ops.iter().map(|o| Value::from(o.as_str())).collect(),
            );
        }
        match &self.alg {
            Some(JwkAlgorithm::Jws(a)) => {
                m.insert("alg".into(), a.as_str().into());
            }
            Some(JwkAlgorithm::Other(a)) => {
                m.insert("alg".into(), a.clone().into());
            }
            None => {}
        }
        for (k, v) in &self.extra {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        m
    }

    /// Compact JSON text (including private members, if any).
    pub fn to_json(&self) -> String {
        Value::Object(self.to_map()).to_string()
    }

    /// The RFC 7638 thumbprint with SHA-256, base64url-encoded.
    pub fn thumbprint(&self) -> String {
        self.thumbprint_with(HashAlg::Sha256, Backend::default())
    }

    /// The RFC 7638 thumbprint with a chosen hash and backend.
    pub fn thumbprint_with(&self, hash: HashAlg, backend: Backend) -> String {
        let e = b64::encode;
        let canonical = match &self.material {
            Material::Ec { curve, x, y, .. } => {
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    curve.name(),
                    e(x),
                    e(y)
                )
            }
            Material::Rsa { n, e: exp, .. } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, e(exp), e(n))
            }
            Material::Ed25519 { x, .. } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, e(x))
            }
            Material::Oct { k } => format!(r#"{{"k":"{}","kty":"oct"}}"#, e(k)),
        };
        b64::encode(&backend.digest(hash, canonical.as_bytes()))
    }

    fn constraints(&self, verify: bool) -> Result<KeyConstraints, KeyError> {
        let alg = match &self.alg {
            None => None,
            Some(JwkAlgorithm::Jws(a)) => Some(*a),
            Some(JwkAlgorithm::Other(_)) => return Err(KeyError::InvalidMember("alg")),
        };
        let use_ok = matches!(self.key_use, None | Some(KeyUse::Signature));
        let wanted = if verify {
            KeyOperation::Verify
        } else {
            KeyOperation::Sign
        };
        let ops_ok = self
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.contains(&wanted));
        Ok(KeyConstraints {
            family: self.family(),
            alg,
            permitted: use_ok && ops_ok,
        })
    }

    /// Builds a verification key on the default backend. `oct` keys are refused: use [`HmacKey::from_jwk`].
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        self.verifying_key_with(Backend::default())
    }

    /// Builds a verification key on a chosen backend.
    pub fn verifying_key_with(&self, backend: Backend) -> Result<VerifyingKey, KeyError> {
        let constraints = self.constraints(true)?;
        let (parts, rsa_len) = match &self.material {
            Material::Ec { curve, x, y, .. } => (
                PublicParts::Ec {
                    curve: *curve,
                    x,
                    y,
                },
                0,
            ),
            Material::Rsa { n, e, .. } => (PublicParts::Rsa { n, e }, n.len()),
            Material::Ed25519 { x, .. } => (PublicParts::Ed25519 { x }, 0),
            Material::Oct { .. } => return Err(KeyError::UnsupportedKeyType("oct".into())),
        };
        let ops = backend.provider().public_key(parts)?;
        Ok(VerifyingKey::new(
            ops,
            constraints,
            self.kid.clone(),
            rsa_len,
            backend,
        ))
    }

    /// Builds a signing key on the default backend (needs the private members). `oct` keys are refused: use
    /// [`HmacKey::from_jwk`].
    pub fn signing_key(&self) -> Result<SigningKey, KeyError> {
        self.signing_key_with(Backend::default())
    }

    /// Builds a signing key on a chosen backend.
    pub fn signing_key_with(&self, backend: Backend) -> Result<SigningKey, KeyError> {
        let constraints = self.constraints(false)?;
        let parts = match &self.material {
            Material::Ec {
                curve,
                x,
                y,
                d: Some(d),
            } => PrivateParts::Ec {
                curve: *curve,
                d,
                x,
                y,
            },
            Material::Rsa {
                n,
                e,
                private: Some(p),
            } => PrivateParts::Rsa { n, e, private: p },
            Material::Ed25519 { x, d: Some(d) } => PrivateParts::Ed25519 { d, x },
            Material::Oct { .. } => return Err(KeyError::UnsupportedKeyType("oct".into())),
            _ => return Err(KeyError::NotPrivate),
        };
        let ops = backend.provider().private_key(parts)?;
        Ok(SigningKey::new(ops, constraints, self.kid.clone(), backend))
    }

    /// A new oct JWK from secret bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Jwk, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::InvalidMember("k"));
        }
        Ok(Jwk::bare(Material::Oct {
            k: Zeroizing::new(secret.to_vec()),
        }))
    }

    fn bare(material: Material) -> Jwk {
        Jwk {
            material,
            kid: None,
            key_use: None,
            key_ops: None,
            alg: None,
            extra: Map::new(),
        }
    }

    /// Generates a new private key for `alg` on the default backend, with `alg`, `use: "sig"` and the RFC 7638
    /// thumbprint as `kid`. RSA keys have 2048 bits; HMAC keys as many bytes as the hash output.
    pub fn generate(alg: Algorithm) -> Result<Jwk, KeyError> {
        Self::generate_with(alg, Backend::default())
    }

    /// Generates a new private key on a chosen backend (*ring* cannot generate RSA keys).
    pub fn generate_with(alg: Algorithm, backend: Backend) -> Result<Jwk, KeyError> {
        let kind = match alg.family() {
            KeyFamily::P256 => GenerateKind::Ec(EcCurve::P256),
            KeyFamily::P384 => GenerateKind::Ec(EcCurve::P384),
            KeyFamily::Rsa => GenerateKind::Rsa { bits: 2048 },
            KeyFamily::Ed25519 => GenerateKind::Ed25519,
            KeyFamily::Symmetric => {
                let mut k = Zeroizing::new(vec![0u8; alg.hash().output_len()]);
                backend
                    .fill_random(&mut k)
                    .map_err(|_| KeyError::Rejected)?;
                let mut jwk = Jwk::bare(Material::Oct { k });
                jwk.finish_generated(alg, backend);
                return Ok(jwk);
            }
        };
        let der = Zeroizing::new(backend.provider().generate_pkcs8(kind)?);
        let mut jwk = Jwk::from_pkcs8_der_with(&der, backend)?;
        jwk.finish_generated(alg, backend);
        Ok(jwk)
    }

    fn finish_generated(&mut self, alg: Algorithm, backend: Backend) {
        self.alg = Some(JwkAlgorithm::Jws(alg));
        self.key_use = Some(KeyUse::Signature);
        self.kid = Some(self.thumbprint_with(HashAlg::Sha256, backend));
    }

    /// Reads a private key from PKCS#8 DER (P-256, P-384, RSA, Ed25519).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Jwk, KeyError> {
        Self::from_pkcs8_der_with(der, Backend::default())
    }

    fn from_pkcs8_der_with(der: &[u8], backend: Backend) -> Result<Jwk, KeyError> {
        let material = match pkcs8::decode_private(der)? {
            DecodedPrivate::Ec { curve, d, x, y } => Material::Ec {
                curve,
                x,
                y,
                d: Some(d),
            },
            DecodedPrivate::Rsa { n, e, parts } => {
                if n.first() == Some(&0) || e.first() == Some(&0) {
                    return Err(KeyError::InvalidPkcs8);
                }
                check_rsa_public(&n, &e)?;
                Material::Rsa {
                    n,
                    e,
                    private: Some(Box::new(parts)),
                }
            }
            DecodedPrivate::Ed25519 { d, x } => {
                let derived = backend.provider().ed25519_public(&d)?;
                if x.as_ref().is_some_and(|x| *x != derived) {
                    return Err(KeyError::Rejected);
                }
                Material::Ed25519 {
                    x: derived,
                    d: Some(d),
                }
            }
        };
        let jwk = Jwk::bare(material);
        // Make sure the private key is consistent before handing it out.
        jwk.signing_key_with(backend)?;
        Ok(jwk)
    }

    /// Reads a private key from a PEM `PRIVATE KEY` (PKCS#8) document.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Jwk, KeyError> {
        let der = pkcs8::pem_decode(pem)?;
        Self::from_pkcs8_der(&der)
    }

    /// Writes the private key as PKCS#8 DER. Public-only and `oct` keys are refused.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let der = match &self.material {
            Material::Ec {
                curve,
                x,
                y,
                d: Some(d),
            } => {
                let mut point = vec![4];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                pkcs8::ec_private_pkcs8_der(*curve, d, &point)?
            }
            Material::Rsa {
                n,
                e,
                private: Some(p),
            } => pkcs8::rsa_private_pkcs8_der(n, e, p)?,
            Material::Ed25519 { d: Some(d), .. } => pkcs8::ed25519_private_pkcs8_der(d)?,
            Material::Oct { .. } => return Err(KeyError::UnsupportedKeyType("oct".into())),
            _ => return Err(KeyError::NotPrivate),
        };
        Ok(Zeroizing::new(der))
    }

    /// Writes the private key as a PEM `PRIVATE KEY` (PKCS#8) document.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        pkcs8::pem_encode(&self.to_pkcs8_der()?)
    }
}

impl std::str::FromStr for Jwk {
    type Err = Error;
    fn from_str(s: &str) -> Result<Jwk, Error> {
        Jwk::from_json(s.as_bytes())
    }
}

impl serde::Serialize for Jwk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl HmacKey {
    /// An HMAC key from an `oct` JWK (keeping its `kid`, `alg`, `use` and `key_ops` constraints).
    pub fn from_jwk(jwk: &Jwk) -> Result<HmacKey, KeyError> {
        Self::from_jwk_with(jwk, Backend::default())
    }

    /// An HMAC key from an `oct` JWK on a chosen backend.
    pub fn from_jwk_with(jwk: &Jwk, backend: Backend) -> Result<HmacKey, KeyError> {
        let Material::Oct { k } = &jwk.material else {
            return Err(KeyError::UnsupportedKeyType(jwk.kty().into()));
        };
        let mut c = jwk.constraints(true)?;
        let s = jwk.constraints(false)?;
        c.permitted = c.permitted || s.permitted;
        let key = HmacKey::new_with(k, backend).map_err(|_| KeyError::InvalidMember("k"))?;
        Ok(key.with_constraints(c, jwk.kid.clone()))
    }
}

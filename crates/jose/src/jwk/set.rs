//! JWK Sets (RFC 7517 §5) with keys ready to verify.
//!
//! Must not: verify with an `oct` key, or try other keys when the token's `kid` names none in the set.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Jwk, MAX_JWK_LEN};
use crate::alg::{Algorithm, KeyFamily};
use crate::backend::Backend;
use crate::error::{Error, KeyError, Part};
use crate::json;
use crate::key::{VerificationKeys, VerifyingKey};

/// Largest JWK Set accepted, in bytes of JSON.
pub const MAX_JWKS_LEN: usize = 512 * 1024;
/// Most keys in one JWK Set.
pub const MAX_JWKS_KEYS: usize = 256;

/// A JWK Set whose asymmetric keys are decoded once, ready to verify.
///
/// Finding a key by `kid` is a hash lookup. A token without `kid` is tried only against the keys whose type fits
/// its `alg`. Keys the set cannot use (unknown `kty` or curve, encryption keys, malformed members) are skipped, as
/// RFC 7517 §5 asks, and counted in [`JwkSet::skipped`]; `oct` keys are kept in [`JwkSet::keys`] but are never
/// used for verification (HMAC secrets go through [`HmacKey`](crate::HmacKey)).
///
/// ```
/// use portcullis_jose::{Algorithm, Jwk, JwkSet, jws, VerifyOptions};
/// let key = Jwk::generate(Algorithm::Es256).unwrap();
/// let set = JwkSet::from_json(JwkSet::new(vec![key.to_public().unwrap()]).to_json().as_bytes()).unwrap();
/// let token = jws::sign(&jws::Header::new(Algorithm::Es256), b"hi", &key.signing_key().unwrap()).unwrap();
/// let verified = jws::verify(&token, &set, &VerifyOptions::new(Algorithm::Es256)).unwrap();
/// assert_eq!(verified.payload, b"hi");
/// ```
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    verifiers: Vec<VerifyingKey>,
    by_kid: HashMap<String, Vec<usize>>,
    by_family: [Vec<usize>; 4],
    skipped: usize,
}

fn family_slot(f: KeyFamily) -> Option<usize> {
    match f {
        KeyFamily::P256 => Some(0),
        KeyFamily::P384 => Some(1),
        KeyFamily::Rsa => Some(2),
        KeyFamily::Ed25519 => Some(3),
        KeyFamily::Symmetric => None,
    }
}

impl JwkSet {
    /// A set of the given keys, on the default backend.
    pub fn new(keys: Vec<Jwk>) -> JwkSet {
        Self::new_with(keys, Backend::default())
    }

    /// A set of the given keys, on a chosen backend. Keys that cannot verify are kept but skipped for
    /// verification.
    pub fn new_with(keys: Vec<Jwk>, backend: Backend) -> JwkSet {
        let mut set = JwkSet::default();
        for jwk in keys {
            set.push(jwk, backend);
        }
        set
    }

    fn push(&mut self, jwk: Jwk, backend: Backend) {
        if let Some(slot) = family_slot(jwk.family()) {
            match jwk.verifying_key_with(backend) {
                Ok(vk) => {
                    let i = self.verifiers.len();
                    self.verifiers.push(vk);
                    if let Some(kid) = jwk.kid() {
                        self.by_kid.entry(kid.to_owned()).or_default().push(i);
                    }
                    self.by_family[slot].push(i);
                }
                Err(_) => self.skipped += 1,
            }
        }
        self.keys.push(jwk);
    }

    /// Parses a JWK Set document on the default backend.
    pub fn from_json(bytes: &[u8]) -> Result<JwkSet, Error> {
        Self::from_json_with(bytes, Backend::default())
    }

    /// Parses a JWK Set document on a chosen backend.
    ///
    /// The document must be a JSON object with a `keys` array (at most [`MAX_JWKS_KEYS`] entries, at most
    /// [`MAX_JWKS_LEN`] bytes), without duplicate member names anywhere.
    pub fn from_json_with(bytes: &[u8], backend: Backend) -> Result<JwkSet, Error> {
        if bytes.len() > MAX_JWKS_LEN {
            return Err(Error::TokenTooLarge {
                len: bytes.len(),
                limit: MAX_JWKS_LEN,
            });
        }
        let map = json::parse_object(bytes, Part::Jwk)?;
        let Some(Value::Array(items)) = map.get("keys") else {
            return Err(KeyError::MissingMember("keys").into());
        };
        if items.len() > MAX_JWKS_KEYS {
            return Err(KeyError::InvalidMember("keys").into());
        }
        let mut set = JwkSet::default();
        for item in items {
            match item {
                Value::Object(m) => match Jwk::from_map(m) {
                    Ok(jwk) => set.push(jwk, backend),
                    Err(_) => set.skipped += 1,
                },
                _ => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// Parses either a JWK Set or a single JWK (as a one-key set).
    pub fn from_json_or_single(bytes: &[u8]) -> Result<JwkSet, Error> {
        if bytes.len() > MAX_JWK_LEN.max(MAX_JWKS_LEN) {
            return Err(Error::TokenTooLarge {
                len: bytes.len(),
                limit: MAX_JWKS_LEN,
            });
        }
        let map = json::parse_object(bytes, Part::Jwk)?;
        if map.contains_key("keys") {
            Self::from_json(bytes)
        } else {
            Ok(JwkSet::new(vec![Jwk::from_map(&map)?]))
        }
    }

    /// Every key of the set that parsed, in document order (including `oct` keys).
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// How many entries were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The verification keys with this `kid`.
    pub fn find(&self, kid: &str) -> impl Iterator<Item = &VerifyingKey> {
        self.by_kid
            .get(kid)
            .into_iter()
            .flatten()
            .map(|&i| &self.verifiers[i])
    }

    /// The set with every key's public part only (`oct` keys dropped).
    pub fn to_public(&self) -> JwkSet {
        let backend = self
            .verifiers
            .first()
            .map_or_else(Backend::default, |v| v.backend());
        JwkSet::new_with(
            self.keys.iter().filter_map(Jwk::to_public).collect(),
            backend,
        )
    }

    /// The JSON object `{"keys":[...]}` (private members included if the keys have them).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "keys".into(),
            self.keys
                .iter()
                .map(|k| Value::Object(k.to_map()))
                .collect(),
        );
        m
    }

    /// Compact JSON text.
    pub fn to_json(&self) -> String {
        Value::Object(self.to_map()).to_string()
    }

    fn try_keys<'a>(
        &'a self,
        candidates: impl Iterator<Item = &'a usize>,
        alg: Algorithm,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), Error> {
        let mut last = None;
        for &i in candidates {
            let key = &self.verifiers[i];
            if !key.supports(alg) {
                continue;
            }
            match key.verify(alg, msg, sig) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::NoMatchingKey(alg)))
    }
}

impl VerificationKeys for JwkSet {
    fn verify_jws(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), Error> {
        match kid {
            Some(kid) => {
                let found = self.by_kid.get(kid).ok_or(Error::UnknownKeyId)?;
                self.try_keys(found.iter(), alg, msg, sig)
            }
            None => {
                let slot = family_slot(alg.family()).ok_or(Error::NoMatchingKey(alg))?;
                self.try_keys(self.by_family[slot].iter(), alg, msg, sig)
            }
        }
    }
}

impl serde::Serialize for JwkSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

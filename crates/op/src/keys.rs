//! Signing keys: one `current` and one `next` key per family (EC P-256 for ES256, RSA for RS256, another RSA
//! key for PS256, Ed25519 for EdDSA: each key is bound to one algorithm, RFC 8725 §3.1), plus `retired` keys that still verify tokens they signed. `keys rotate` publishes the
//! next key a full rotation before it signs, and keeps the retired one in the JWKS until its tokens expired.
//!
//! Must not: let a key sign with an algorithm other than its own, or drop a retired key while its tokens live.

use std::collections::HashMap;

use portcullis_jose::{Algorithm, Jwk, JwkSet, SigningKey};
use serde_json::{Value, json};

use crate::store::{KeyRow, Store, StoreError};

/// The key families and the algorithm each is generated for.
pub const FAMILIES: &[(&str, Algorithm)] = &[
    ("EC", Algorithm::Es256),
    ("RSA", Algorithm::Rs256),
    ("RSA-PSS", Algorithm::Ps256),
    ("OKP", Algorithm::EdDsa),
];

/// The family that signs an algorithm.
pub fn family_of(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::Es256 => Some("EC"),
        Algorithm::Rs256 => Some("RSA"),
        Algorithm::Ps256 => Some("RSA-PSS"),
        Algorithm::EdDsa => Some("OKP"),
        _ => None,
    }
}

/// The algorithms this provider signs ID tokens (and JARM responses) with.
pub const SIGNING_ALGS: &[Algorithm] = &[
    Algorithm::Es256,
    Algorithm::Rs256,
    Algorithm::Ps256,
    Algorithm::EdDsa,
];

/// A freshly generated key row for a family.
pub fn generate(family: &str, state: &str, now: i64) -> Result<KeyRow, String> {
    let alg = FAMILIES
        .iter()
        .find(|(f, _)| *f == family)
        .map(|(_, a)| *a)
        .ok_or_else(|| format!("unknown key family {family}"))?;
    let mut jwk = Jwk::generate(alg).map_err(|e| e.to_string())?;
    let kid = jwk.thumbprint();
    jwk.set_kid(Some(kid.clone()));
    Ok(KeyRow {
        kid,
        family: family.to_owned(),
        jwk: jwk.to_json(),
        state: state.to_owned(),
        created_at: now,
        retired_at: None,
    })
}

/// The loaded keys.
pub struct KeyRing {
    signing: HashMap<&'static str, (String, SigningKey)>,
    jwks: String,
    public: JwkSet,
}

impl KeyRing {
    /// Builds the ring from stored rows; retired keys past `retired_key_lifetime` are left out of the JWKS.
    pub fn from_rows(
        rows: &[KeyRow],
        now: i64,
        retired_key_lifetime: i64,
    ) -> Result<KeyRing, StoreError> {
        let mut signing = HashMap::new();
        let mut public = Vec::new();
        let mut public_keys = Vec::new();
        for r in rows {
            let jwk = Jwk::from_json(r.jwk.as_bytes())
                .map_err(|e| StoreError::Corrupt(format!("key {}: {e}", r.kid)))?;
            if r.state == "retired" && r.retired_at.unwrap_or(0) + retired_key_lifetime < now {
                continue;
            }
            if r.state == "current"
                && let Some((fam, _)) = FAMILIES.iter().find(|(f, _)| *f == r.family)
            {
                let key = jwk
                    .signing_key()
                    .map_err(|e| StoreError::Corrupt(format!("key {}: {e}", r.kid)))?;
                signing.insert(*fam, (r.kid.clone(), key));
            }
            let mut m = jwk
                .to_public()
                .ok_or_else(|| StoreError::Corrupt(format!("key {} has no public part", r.kid)))?
                .to_map();
            m.insert("use".into(), json!("sig"));
            if let Some(p) = jwk.to_public() {
                public_keys.push(p);
            }
            public.push(Value::Object(m));
        }
        Ok(KeyRing {
            signing,
            jwks: json!({ "keys": public }).to_string(),
            public: JwkSet::new(public_keys),
        })
    }

    /// Loads from the store, creating current and next keys for any family that has none (first run).
    pub async fn load(
        store: &Store,
        now: i64,
        retired_key_lifetime: i64,
    ) -> Result<KeyRing, StoreError> {
        for (family, _) in FAMILIES {
            if !store.keys().await?.iter().any(|k| k.family == *family) {
                let rows = [
                    generate(family, "current", now).map_err(StoreError::Corrupt)?,
                    generate(family, "next", now).map_err(StoreError::Corrupt)?,
                ];
                store.add_keys_if_family_empty(family, &rows).await?;
            }
        }
        Self::from_rows(&store.keys().await?, now, retired_key_lifetime)
    }

    /// The current signing key for an algorithm.
    pub fn signer(&self, alg: Algorithm) -> Option<&SigningKey> {
        self.signing.get(family_of(alg)?).map(|(_, k)| k)
    }

    /// The published keys, for verifying our own tokens (`id_token_hint`).
    pub fn public(&self) -> &JwkSet {
        &self.public
    }

    /// The JWK Set document.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

/// Rotates every family (the `keys rotate` admin command).
pub async fn rotate(store: &Store, now: i64, retired_key_lifetime: i64) -> Result<(), StoreError> {
    for (family, _) in FAMILIES {
        let next = generate(family, "next", now).map_err(StoreError::Corrupt)?;
        store
            .rotate_keys(family, &next, now, now - retired_key_lifetime)
            .await?;
    }
    Ok(())
}

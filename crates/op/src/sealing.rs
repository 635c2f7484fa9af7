//! Sealed values: client secrets that must be recoverable, sealed at rest, and authorization codes that carry
//! their own state ([`CodeSealer`]).
//!
//! `client_secret_jwt` (OIDC Core §9) authenticates with an HMAC keyed by the client secret itself, so the
//! provider needs the secret, not a hash of it. Those secrets (and only those: `client_secret_basic` and
//! `client_secret_post` secrets are stored as SHA-256 hashes) are sealed with AES-256-GCM under a 256-bit key,
//! with a random 96-bit nonce per seal and the `client_id` as associated data: a sealed secret copied to
//! another client's row does not open.
//!
//! The sealing key lives in the database's `settings` table (created on first use; shared by every node of a
//! PostgreSQL deployment). It keeps secrets out of anything that shows client rows (admin listings, dumps of
//! the `clients` table, logs); it does not protect against someone holding the whole database.
//!
//! Must not: open anything sealed under another key or for another client.

use aws_lc_rs::aead::{AES_256_GCM, AES_256_GCM_SIV, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use zeroize::Zeroizing;

use crate::store::{Store, StoreError};

const SETTING: &str = "client_secret_sealing_key";
const PREFIX: &str = "v1.";

/// A 256-bit key kept in the `settings` table under `setting`, created (from the system CSPRNG) on first use.
/// Every node of a shared database reads the same one.
async fn stored_key(
    store: &Store,
    setting: &str,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let mut fresh = Zeroizing::new([0u8; 32]);
    portcullis_jose::Backend::default()
        .fill_random(fresh.as_mut())
        .map_err(|e| StoreError::Corrupt(format!("random: {e}")))?;
    let stored = Zeroizing::new(
        store
            .setting_or_insert(setting, &B64.encode(fresh.as_ref()))
            .await?,
    );
    let key = Zeroizing::new(
        B64.decode(stored.as_bytes())
            .map_err(|_| StoreError::Corrupt(what.into()))?,
    );
    if key.len() != 32 {
        return Err(StoreError::Corrupt(what.into()));
    }
    Ok(key)
}

/// The sealing key.
pub struct SecretSealer {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSealer(..)")
    }
}

impl SecretSealer {
    /// A sealer from raw key bytes (32).
    pub fn from_key(key: &[u8]) -> Result<SecretSealer, StoreError> {
        RandomizedNonceKey::new(&AES_256_GCM, key)
            .map(|key| SecretSealer { key })
            .map_err(|_| StoreError::Corrupt("client secret sealing key".into()))
    }

    /// The store's sealing key, created on first use.
    pub async fn load(store: &Store) -> Result<SecretSealer, StoreError> {
        Self::from_key(&stored_key(store, SETTING, "client secret sealing key").await?)
    }

    /// Seals `secret` for `client_id`: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, client_id: &str, secret: &str) -> Result<String, StoreError> {
        let mut buf = secret.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(client_id.as_bytes()), &mut buf)
            .map_err(|_| StoreError::Corrupt("sealing failed".into()))?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// Opens what [`seal`](Self::seal) produced for the same `client_id`; `None` for anything else (another
    /// client's row, a tampered value, another key).
    pub fn open(&self, client_id: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
        let raw = B64.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() || raw.len() > 4096 {
            return None;
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(client_id.as_bytes()), buf.as_mut_slice())
            .ok()?;
        Some(Zeroizing::new(plain.to_vec()))
    }
}

/// What an authorization code carries when it is sealed ([`CodeSealer`]): the grant it starts and what the
/// token endpoint checks it against (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeContents {
    /// The grant's id, fresh per code: the row stored under it when the code is redeemed marks it used.
    #[serde(rename = "g")]
    pub grant_id: String,
    /// The client the code was issued to.
    #[serde(rename = "c")]
    pub client_id: String,
    /// The user.
    #[serde(rename = "u")]
    pub user_id: String,
    /// The granted scope.
    #[serde(rename = "s")]
    pub scope: String,
    /// The `claims` request (JSON), if any.
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
    /// When the user authenticated.
    #[serde(rename = "a")]
    pub auth_time: i64,
    /// The request's nonce.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The session's `sid`.
    #[serde(rename = "i")]
    pub sid: String,
    /// What the grant's ID tokens say of the authentication (see [`crate::store::GrantRow::authn`]).
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub authn: Option<String>,
    /// The redirect URI of the authorization request.
    #[serde(rename = "r")]
    pub redirect_uri: String,
    /// The PKCE challenge and its method.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<(String, String)>,
    /// Expiry (Unix seconds).
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// Authorization codes that carry their own state, so issuing one writes nothing to the database.
///
/// A code is `c1.` + base64url(nonce ‖ AES-256-GCM-SIV(JSON of [`CodeContents`]) ‖ tag), under a key of its
/// own in the `settings` table (not the client-secret key: nothing sealed for one purpose opens as the other)
/// and with a fixed associated data. GCM-SIV because the nonces are random and a busy provider seals billions
/// of codes under one key: a repeated nonce there only shows that two codes are equal, which they never are.
///
/// What the provider must remember still goes to the database: redeeming a code stores its grant under the
/// id sealed in it, in the transaction that stores the tokens, and a code whose grant already exists is a
/// replay. Tampered, truncated or foreign codes do not open.
pub struct CodeSealer {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for CodeSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeSealer(..)")
    }
}

const CODE_SETTING: &str = "code_sealing_key";
const CODE_PREFIX: &str = "c1.";
const CODE_AAD: &[u8] = b"portcullis authorization code v1";
/// The longest sealed code [`CodeSealer::open`] looks at; [`CodeSealer::seal`] refuses contents that would
/// make a longer one (the provider then stores the code instead).
pub const MAX_SEALED_CODE: usize = 2048;

impl CodeSealer {
    /// A sealer from raw key bytes (32).
    pub fn from_key(key: &[u8]) -> Result<CodeSealer, StoreError> {
        RandomizedNonceKey::new(&AES_256_GCM_SIV, key)
            .map(|key| CodeSealer { key })
            .map_err(|_| StoreError::Corrupt("code sealing key".into()))
    }

    /// The store's code sealing key, created on first use.
    pub async fn load(store: &Store) -> Result<CodeSealer, StoreError> {
        Self::from_key(&stored_key(store, CODE_SETTING, "code sealing key").await?)
    }

    /// Whether `code` has the form of a sealed code (it may still not open).
    pub fn is_sealed(code: &str) -> bool {
        code.starts_with(CODE_PREFIX)
    }

    /// Seals `contents` into a code; `None` if the code would be longer than [`MAX_SEALED_CODE`].
    pub fn seal(&self, contents: &CodeContents) -> Option<String> {
        let mut buf = serde_json::to_vec(contents).ok()?;
        let sealed_len =
            CODE_PREFIX.len() + (NONCE_LEN + buf.len() + AES_256_GCM_SIV.tag_len()).div_ceil(3) * 4;
        if sealed_len > MAX_SEALED_CODE {
            return None;
        }
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(CODE_AAD), &mut buf)
            .ok()?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buf);
        Some(format!("{CODE_PREFIX}{}", B64.encode(out)))
    }

    /// Opens a code [`seal`](Self::seal) made under this key; `None` for anything else (another key, any
    /// change, a stored code, garbage, over [`MAX_SEALED_CODE`]).
    pub fn open(&self, code: &str) -> Option<CodeContents> {
        if code.len() > MAX_SEALED_CODE {
            return None;
        }
        let raw = B64.decode(code.strip_prefix(CODE_PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN + AES_256_GCM_SIV.tag_len() {
            return None;
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(CODE_AAD), buf.as_mut_slice())
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(b: u8) -> SecretSealer {
        SecretSealer::from_key(&[b; 32]).unwrap()
    }

    #[test]
    fn round_trip_and_refusals() {
        let s = sealer(1);
        let sealed = s.seal("client-a", "the secret").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("the secret"));
        assert_eq!(
            s.open("client-a", &sealed).unwrap().as_slice(),
            b"the secret"
        );
        // Fresh nonce per seal.
        assert_ne!(sealed, s.seal("client-a", "the secret").unwrap());
        // Another client's row, another key, tampering, garbage: nothing opens.
        assert!(s.open("client-b", &sealed).is_none());
        assert!(sealer(2).open("client-a", &sealed).is_none());
        let mut raw = B64.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(
            s.open("client-a", &format!("v1.{}", B64.encode(&raw)))
                .is_none()
        );
        for bad in [
            "",
            "v1.",
            "v1.AAAA",
            "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1.!!!",
        ] {
            assert!(s.open("client-a", bad).is_none(), "{bad}");
        }
        assert!(SecretSealer::from_key(&[0; 16]).is_err());
    }

    fn contents() -> CodeContents {
        CodeContents {
            grant_id: "0190a1b2c3d4AAAAAAAAAAAAAAAAAAAAAA".into(),
            client_id: "demo".into(),
            user_id: "user-1".into(),
            scope: "openid profile".into(),
            claims: None,
            auth_time: 1_700_000_000,
            nonce: Some("n-0S6_WzA2Mj".into()),
            sid: "sid-1".into(),
            authn: None,
            redirect_uri: "http://127.0.0.1:8081/callback".into(),
            code_challenge: Some((
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
                "S256".into(),
            )),
            expires_at: 1_700_000_060,
        }
    }

    #[test]
    fn codes_round_trip_and_refusals() {
        let s = CodeSealer::from_key(&[7; 32]).unwrap();
        let c = contents();
        let code = s.seal(&c).unwrap();
        assert!(CodeSealer::is_sealed(&code));
        assert!(code.len() < 400, "{}", code.len());
        assert!(!code.contains("demo") && !code.contains("openid"));
        assert_eq!(s.open(&code).unwrap(), c);
        // A code of a multi-factor authentication carries what its ID tokens say of it.
        let mfa = CodeContents {
            authn: Some("urn:portcullis:acr:mfa pwd otp mfa".into()),
            ..c.clone()
        };
        assert_eq!(s.open(&s.seal(&mfa).unwrap()).unwrap(), mfa);
        // Fresh nonce per seal.
        assert_ne!(code, s.seal(&c).unwrap());
        // Another key, the client-secret sealer's key and AAD, any flipped bit, truncation: nothing opens.
        assert!(
            CodeSealer::from_key(&[8; 32])
                .unwrap()
                .open(&code)
                .is_none()
        );
        let secret = sealer(7).seal("c1", "x").unwrap();
        assert!(s.open(&format!("c1.{}", &secret[3..])).is_none());
        let raw = B64.decode(&code[3..]).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x10;
            assert!(
                s.open(&format!("c1.{}", B64.encode(&bad))).is_none(),
                "byte {i}"
            );
        }
        assert!(
            s.open(&format!("c1.{}", B64.encode(&raw[..raw.len() - 1])))
                .is_none()
        );
        for bad in [
            "",
            "c1.",
            "c1.AAAA",
            "c2.AAAA",
            "c1.!!!",
            "v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(s.open(bad).is_none(), "{bad}");
        }
        // Stored codes (43 characters of base64url) are not sealed ones.
        assert!(!CodeSealer::is_sealed(&crate::new_token()));
        assert!(s.open(&crate::new_token()).is_none());
        // A well-formed seal of something that is not a code's contents does not open as one.
        let mut other = br#"{"g":"x"}"#.to_vec();
        let nonce = s
            .key
            .seal_in_place_append_tag(Aad::from(CODE_AAD), &mut other)
            .unwrap();
        let mut raw = nonce.as_ref().to_vec();
        raw.extend_from_slice(&other);
        assert!(s.open(&format!("c1.{}", B64.encode(&raw))).is_none());
        assert!(CodeSealer::from_key(&[0; 16]).is_err());
    }

    #[test]
    fn oversized_contents_are_not_sealed_nor_opened() {
        let s = CodeSealer::from_key(&[7; 32]).unwrap();
        let mut c = contents();
        c.claims = Some(format!(
            "{{\"userinfo\":{{\"{}\":null}}}}",
            "x".repeat(1400)
        ));
        assert!(s.seal(&c).is_none());
        c.claims = Some(format!(
            "{{\"userinfo\":{{\"{}\":null}}}}",
            "x".repeat(1000)
        ));
        let code = s.seal(&c).unwrap();
        assert!(code.len() <= MAX_SEALED_CODE);
        assert_eq!(s.open(&code).unwrap(), c);
        let long = format!("{code}{}", "A".repeat(MAX_SEALED_CODE));
        assert!(s.open(&long).is_none());
    }
}

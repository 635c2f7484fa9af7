//! Client secrets that must be recoverable, sealed at rest.
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

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use zeroize::Zeroizing;

use crate::store::{Store, StoreError};

const SETTING: &str = "client_secret_sealing_key";
const PREFIX: &str = "v1.";

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
        let mut fresh = Zeroizing::new([0u8; 32]);
        portcullis_jose::Backend::default()
            .fill_random(fresh.as_mut())
            .map_err(|e| StoreError::Corrupt(format!("random: {e}")))?;
        let stored = Zeroizing::new(
            store
                .setting_or_insert(SETTING, &B64.encode(fresh.as_ref()))
                .await?,
        );
        let key = Zeroizing::new(
            B64.decode(stored.as_bytes())
                .map_err(|_| StoreError::Corrupt("client secret sealing key".into()))?,
        );
        if key.len() != 32 {
            return Err(StoreError::Corrupt("client secret sealing key".into()));
        }
        Self::from_key(&key)
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
}

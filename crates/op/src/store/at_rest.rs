//! Secrets at rest: every value of the `settings` table (the pairwise secret, the code- and secret-sealing
//! keys) and every private signing key in `signing_keys` is sealed with AES-256-GCM under a key-encryption key
//! ([`Kek`]) that is kept outside the database, so a dump of the database alone reveals none of them.
//!
//! A sealed value reads `kek1.<kek id>.<base64url(nonce ‖ ciphertext ‖ tag)>`; its slot (table, and setting
//! name or key id) is the associated data, so a sealed value copied into another slot does not open. Values
//! stored in clear by earlier versions are sealed in place at start-up ([`Store::seal_values_in_clear`]), and
//! [`Store::rekey`] re-seals everything under a new key in one transaction.
//!
//! Must not: write a secret in clear, or open a value sealed for another slot or under another key.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use zeroize::Zeroizing;

use super::{Result, Store, StoreError};

const PREFIX: &str = "kek1.";

/// A key-encryption key: 256 bits, named by the first 8 characters of the base64url SHA-256 of the key.
pub struct Kek {
    id: String,
    key: RandomizedNonceKey,
    text: Zeroizing<String>,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id)
    }
}

/// Why a key-encryption key or a sealed value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KekError {
    /// Not 32 bytes of base64url.
    #[error("a key-encryption key is 32 bytes, base64url-encoded (43 characters)")]
    Malformed,
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
}

impl Kek {
    /// A fresh key from the system CSPRNG.
    pub fn generate() -> std::result::Result<Kek, KekError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        portcullis_jose::Backend::default()
            .fill_random(raw.as_mut())
            .map_err(|_| KekError::Random)?;
        Kek::from_text(&B64.encode(raw.as_ref()))
    }

    /// A key from its text form (base64url of 32 bytes; surrounding whitespace ignored).
    pub fn from_text(text: &str) -> std::result::Result<Kek, KekError> {
        let text = text.trim();
        let raw = Zeroizing::new(B64.decode(text).map_err(|_| KekError::Malformed)?);
        if raw.len() != 32 {
            return Err(KekError::Malformed);
        }
        let digest = portcullis_jose::Backend::default()
            .digest(portcullis_jose::HashAlg::Sha256, raw.as_slice());
        let id = B64.encode(digest)[..8].to_owned();
        let key = RandomizedNonceKey::new(&AES_256_GCM, raw.as_slice())
            .map_err(|_| KekError::Malformed)?;
        Ok(Kek {
            id,
            key,
            text: Zeroizing::new(text.to_owned()),
        })
    }

    /// The key's id (not secret): it names the key in every value it sealed.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's text form, for writing it to its file (secret).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Seals `plain` for `slot`.
    pub fn seal(&self, slot: &str, plain: &str) -> Result<String> {
        let mut buf = plain.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(slot.as_bytes()), &mut buf)
            .map_err(|_| StoreError::Corrupt("sealing failed".into()))?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}.{}", self.id, B64.encode(out)))
    }

    /// Opens what [`seal`](Self::seal) produced for `slot` under this key.
    pub fn open(&self, slot: &str, sealed: &str) -> Result<Zeroizing<String>> {
        let corrupt = |why: &str| StoreError::Corrupt(format!("{slot}: {why}"));
        let (id, body) = sealed_parts(sealed).ok_or_else(|| corrupt("not sealed"))?;
        if id != self.id {
            return Err(corrupt(&format!(
                "sealed under key-encryption key {id}, not under {} (the configured one)",
                self.id
            )));
        }
        let raw = B64.decode(body).map_err(|_| corrupt("malformed"))?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(corrupt("malformed"));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt("malformed"))?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(slot.as_bytes()), buf.as_mut_slice())
            .map_err(|_| corrupt("does not open (tampered, or moved from another slot)"))?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| corrupt("not UTF-8"))
    }
}

/// The key id and body of a sealed value, or `None` for a value in clear.
fn sealed_parts(v: &str) -> Option<(&str, &str)> {
    v.strip_prefix(PREFIX)?.split_once('.')
}

/// The slot of a setting.
pub(super) fn setting_slot(name: &str) -> String {
    format!("settings:{name}")
}

/// The slot of a signing key.
pub(super) fn key_slot(kid: &str) -> String {
    format!("signing_keys:{kid}")
}

impl Store {
    /// The store with its key-encryption key: without one, secrets can be neither read nor written.
    pub fn with_kek(mut self, kek: Kek) -> Store {
        self.kek = Some(std::sync::Arc::new(kek));
        self
    }

    pub(super) fn kek(&self) -> Result<&Kek> {
        self.kek.as_deref().ok_or_else(|| {
            StoreError::Corrupt("no key-encryption key: secrets at rest cannot be opened".into())
        })
    }

    /// The id of the key-encryption key the stored secrets are sealed under (any one of them), if any is.
    pub async fn sealed_kek_id(&self) -> Result<Option<String>> {
        for (_, value) in self.secret_rows().await? {
            if let Some((id, _)) = sealed_parts(&value) {
                return Ok(Some(id.to_owned()));
            }
        }
        Ok(None)
    }

    /// Every secret value with its slot: settings, signing keys, then TOTP seeds and one-time codes.
    async fn secret_rows(&self) -> Result<Vec<(String, String)>> {
        let mut rows: Vec<(String, String)> =
            sqlx::query_as::<_, (String, String)>("SELECT name, value FROM settings")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(n, v)| (setting_slot(&n), v))
                .collect();
        rows.extend(
            sqlx::query_as::<_, (String, String)>("SELECT kid, jwk FROM signing_keys")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(k, v)| (key_slot(&k), v)),
        );
        rows.extend(self.factor_secret_rows().await?);
        Ok(rows)
    }

    async fn put_secret_row(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        slot: &str,
        old: &str,
        new: &str,
    ) -> Result<()> {
        let (sql, key) = if let Some(name) = slot.strip_prefix("settings:") {
            (
                "UPDATE settings SET value = $1 WHERE name = $2 AND value = $3",
                name,
            )
        } else if let Some(kid) = slot.strip_prefix("signing_keys:") {
            (
                "UPDATE signing_keys SET jwk = $1 WHERE kid = $2 AND jwk = $3",
                kid,
            )
        } else if let Some(rest) = slot.strip_prefix("user_factors:") {
            let (kind, user) = rest
                .split_once(':')
                .ok_or_else(|| StoreError::Corrupt(format!("unknown slot {slot}")))?;
            sqlx::query(
                "UPDATE user_factors SET secret = $1 WHERE kind = $2 AND user_id = $3 AND secret = $4",
            )
            .bind(new)
            .bind(kind)
            .bind(user)
            .bind(old)
            .execute(&mut **tx)
            .await?;
            return Ok(());
        } else if let Some(rest) = slot.strip_prefix("factor_codes:") {
            let (purpose, user) = rest
                .split_once(':')
                .ok_or_else(|| StoreError::Corrupt(format!("unknown slot {slot}")))?;
            sqlx::query(
                "UPDATE factor_codes SET code = $1 WHERE purpose = $2 AND user_id = $3 AND code = $4",
            )
            .bind(new)
            .bind(purpose)
            .bind(user)
            .bind(old)
            .execute(&mut **tx)
            .await?;
            return Ok(());
        } else {
            return Err(StoreError::Corrupt(format!("unknown slot {slot}")));
        };
        sqlx::query(sql)
            .bind(new)
            .bind(key)
            .bind(old)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Seals, under this store's key, every secret an earlier version stored in clear (and drops the demo
    /// password those versions kept). Returns how many values it sealed.
    pub async fn seal_values_in_clear(&self) -> Result<usize> {
        let kek = self.kek()?;
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM settings WHERE name = 'demo_password'")
            .execute(&mut *tx)
            .await?;
        let mut n = 0;
        for (slot, value) in self.secret_rows().await? {
            if sealed_parts(&value).is_none() && slot != setting_slot("demo_password") {
                Self::put_secret_row(&mut tx, &slot, &value, &kek.seal(&slot, &value)?).await?;
                n += 1;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Re-seals every secret under `new` (in one transaction: all or nothing) and returns the store using it.
    /// Every value must open under the current key.
    pub async fn rekey(self, new: Kek) -> Result<Store> {
        {
            let old = self.kek()?;
            let _w = self.write().await;
            let mut tx = self.pool.begin().await?;
            for (slot, value) in self.secret_rows().await? {
                let plain = old.open(&slot, &value)?;
                Self::put_secret_row(&mut tx, &slot, &value, &new.seal(&slot, &plain)?).await?;
            }
            tx.commit().await?;
        }
        Ok(self.with_kek(new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_slot_and_under_their_key() {
        let k = Kek::generate().unwrap();
        let sealed = k.seal("settings:a", "secret").unwrap();
        assert!(sealed.starts_with(&format!("kek1.{}.", k.id())));
        assert!(!sealed.contains("secret"));
        assert_eq!(k.open("settings:a", &sealed).unwrap().as_str(), "secret");
        assert!(k.open("settings:b", &sealed).is_err(), "another slot");
        let other = Kek::generate().unwrap();
        assert!(other.open("settings:a", &sealed).is_err(), "another key");
        // A character inside the body (all six of its bits count), changed.
        let at = sealed.len() - 10;
        let was = sealed.as_bytes()[at];
        let mut tampered = sealed.clone().into_bytes();
        tampered[at] = if was == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(k.open("settings:a", &tampered).is_err());
        assert!(k.open("settings:a", "secret").is_err(), "clear text");
        assert_eq!(
            Kek::from_text(k.text()).unwrap().id(),
            k.id(),
            "text form round-trips"
        );
        assert!(Kek::from_text("short").is_err());
    }

    #[tokio::test]
    async fn values_in_clear_are_sealed_and_rekey_moves_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&super::super::sqlite_url(&dir)).await.unwrap();
        // What an earlier version left: settings and a private key in clear, and the demo password.
        for (n, v) in [
            ("pairwise_secret", "c2VjcmV0"),
            ("demo_password", "hunter2"),
        ] {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
                .bind(n)
                .bind(v)
                .execute(&store.pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, family, jwk, state, created_at, retired_at) \
             VALUES ('k1', 'EC', '{\"d\":\"private\"}', 'current', 1, NULL)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        assert!(
            store.setting("pairwise_secret").await.is_err(),
            "no key: refused"
        );
        let k = Kek::generate().unwrap();
        let store = store.with_kek(k);
        assert_eq!(store.seal_values_in_clear().await.unwrap(), 2);
        assert_eq!(store.seal_values_in_clear().await.unwrap(), 0, "idempotent");
        let raw: Vec<String> = sqlx::query_scalar("SELECT value FROM settings")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(raw.len(), 1, "the demo password is gone");
        assert!(raw[0].starts_with("kek1."));
        assert_eq!(
            store
                .setting("pairwise_secret")
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "c2VjcmV0"
        );
        assert_eq!(store.keys().await.unwrap()[0].jwk, "{\"d\":\"private\"}");
        // A TOTP seed and a sent code are sealed too, and move with the key.
        store
            .put_factor("u1", "mobile_app", "JBSWY3DPEHPK3PXP", 1)
            .await
            .unwrap();
        store
            .put_code("u1", "email", "123456", "u1@example.com", 1, i64::MAX)
            .await
            .unwrap();
        let raw: Vec<String> = sqlx::query_scalar(
            "SELECT secret FROM user_factors UNION ALL SELECT code FROM factor_codes",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert!(raw.iter().all(|v| v.starts_with("kek1.")), "{raw:?}");
        let old_id = store.sealed_kek_id().await.unwrap().unwrap();
        let new = Kek::generate().unwrap();
        let new_id = new.id().to_owned();
        let store = store.rekey(new).await.unwrap();
        assert_ne!(old_id, new_id);
        assert_eq!(store.sealed_kek_id().await.unwrap().unwrap(), new_id);
        assert_eq!(
            store
                .setting("pairwise_secret")
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "c2VjcmV0"
        );
        assert_eq!(store.keys().await.unwrap()[0].jwk, "{\"d\":\"private\"}");
        let seed = store.factor("u1", "mobile_app").await.unwrap().unwrap();
        assert_eq!(
            seed.secret.as_str(),
            "JBSWY3DPEHPK3PXP",
            "re-sealed under the new key"
        );
        assert_eq!(
            store.try_code("u1", "email", "123456", 2, 5).await.unwrap(),
            super::super::CodeCheck::Accepted {
                destination: "u1@example.com".into()
            }
        );
    }
}

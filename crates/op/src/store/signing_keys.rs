//! The `signing_keys` table: the provider's signing keys per family (`next`, `current`, `retired`) and their
//! rotation.
//!
//! Must not hold queries of other tables; what a key is and how it signs is `crate::keys`.

use sqlx::Row;

use super::at_rest::key_slot;
use super::{KeyRow, Result, Store};

impl Store {
    /// Every signing key, its private JWK opened (it is stored sealed, see `at_rest`).
    pub async fn keys(&self) -> Result<Vec<KeyRow>> {
        let kek = self.kek()?;
        sqlx::query(
            "SELECT kid, family, jwk, state, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let kid: String = r.try_get("kid")?;
            let sealed: String = r.try_get("jwk")?;
            Ok(KeyRow {
                jwk: kek.open(&key_slot(&kid), &sealed)?.to_string(),
                kid,
                family: r.try_get("family")?,
                state: r.try_get("state")?,
                created_at: r.try_get("created_at")?,
                retired_at: r.try_get("retired_at")?,
            })
        })
        .collect()
    }

    /// Adds keys for a family when it has none (first run); a concurrent first run on another node loses
    /// cleanly (the check and inserts are one transaction).
    pub async fn add_keys_if_family_empty(&self, family: &str, keys: &[KeyRow]) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE family = $1")
            .bind(family)
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(false);
        }
        for k in keys {
            self.insert_key(&mut tx, k).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Inserts a key, its private JWK sealed under the key-encryption key.
    async fn insert_key(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        k: &KeyRow,
    ) -> Result<()> {
        let sealed = self.kek()?.seal(&key_slot(&k.kid), &k.jwk)?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, family, jwk, state, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.kid)
        .bind(&k.family)
        .bind(&sealed)
        .bind(&k.state)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Rotates a family: current → retired (at `now`), next → current, `new_next` becomes next; retired keys
    /// retired before `prune_before` are deleted.
    pub async fn rotate_keys(
        &self,
        family: &str,
        new_next: &KeyRow,
        now: i64,
        prune_before: i64,
    ) -> Result<()> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1 WHERE family = $2 AND state = 'current'",
        )
        .bind(now)
        .bind(family)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'current' WHERE family = $1 AND state = 'next'",
        )
        .bind(family)
        .execute(&mut *tx)
        .await?;
        self.insert_key(&mut tx, new_next).await?;
        sqlx::query(
            "DELETE FROM signing_keys WHERE family = $1 AND state = 'retired' AND retired_at < $2",
        )
        .bind(family)
        .bind(prune_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

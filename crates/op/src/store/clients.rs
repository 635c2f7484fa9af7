//! The `clients` table: registered clients (removing one revokes its grants).
//!
//! Must not hold queries of other tables beyond that revocation.

use sqlx::Row;

use super::{ClientRow, Result, Store};

impl Store {
    /// Inserts or replaces a client.
    pub async fn put_client(&self, c: &ClientRow, now: i64) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO clients (id, secret_hash, secret_sealed, metadata, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash, \
             secret_sealed = excluded.secret_sealed, metadata = excluded.metadata",
        )
        .bind(&c.id)
        .bind(&c.secret_hash)
        .bind(&c.secret_sealed)
        .bind(&c.metadata)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A client by id.
    pub async fn client(&self, id: &str) -> Result<Option<ClientRow>> {
        let row = sqlx::query(
            "SELECT id, secret_hash, secret_sealed, metadata FROM clients WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ClientRow {
                id: r.try_get("id")?,
                secret_hash: r.try_get("secret_hash")?,
                secret_sealed: r.try_get("secret_sealed")?,
                metadata: r.try_get("metadata")?,
            })
        })
        .transpose()
    }

    /// Every client id.
    pub async fn client_ids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT id FROM clients ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Removes a client and revokes its grants. Returns whether it existed.
    pub async fn remove_client(&self, id: &str) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE grants SET revoked = 1 WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Consent given to it goes too: a client registered later under the same id starts with none.
        sqlx::query("DELETE FROM consents WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}

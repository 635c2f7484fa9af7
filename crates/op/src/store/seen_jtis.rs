//! The `seen_jtis` table: client assertion `jti`s already used (replay protection).
//!
//! Must not hold queries of other tables.

use super::{Result, Store};

impl Store {
    /// Records a client assertion `jti`; false when it was seen before (replay).
    pub async fn record_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        let _w = self.write().await;
        sqlx::query("DELETE FROM seen_jtis WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query(
            "INSERT INTO seen_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}

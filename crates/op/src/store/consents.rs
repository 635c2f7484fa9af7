//! The `consents` table: the scope each user consented to per client.
//!
//! Must not hold queries of other tables.

use super::{Result, Store};

impl Store {
    /// The scope a user consented to for a client.
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Remembers consent.
    pub async fn put_consent(&self, user_id: &str, client_id: &str, scope: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

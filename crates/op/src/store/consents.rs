//! The `consents` table: what each user consented to release to each client (scopes, and individual claims).
//!
//! Must not hold queries of other tables.

use super::{ConsentRow, Result, Store};

impl Store {
    /// What a user consented to for a client.
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<ConsentRow>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT scope, claims FROM consents WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(scope, claims)| ConsentRow { scope, claims }))
    }

    /// Remembers consent (replacing what was remembered for this user and client).
    pub async fn put_consent(&self, user_id: &str, client_id: &str, c: &ConsentRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, claims) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, claims = excluded.claims",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(&c.scope)
        .bind(&c.claims)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

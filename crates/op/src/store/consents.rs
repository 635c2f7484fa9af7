//! The `consents` table: what each user consented to release to each client (scopes, and individual claims);
//! and withdrawing it (`consent_withdrawals`, with the grants and tokens a withdrawal revokes).
//!
//! Must not hold queries of other tables, but for what a withdrawal revokes.

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

    /// The clients `user_id` has consented to, with what, by client id.
    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<(String, ConsentRow)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT client_id, scope, claims FROM consents WHERE user_id = $1 ORDER BY client_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(c, scope, claims)| (c, ConsentRow { scope, claims }))
            .collect())
    }

    /// Withdraws `user_id`'s consent from `client_id` at `now`: forgets what was consented to, records when (a
    /// code issued before it is refused at redemption: [`Store::consent_withdrawn_at`]), then revokes every grant
    /// of that user and client with its tokens. Whether there was anything to withdraw (remembered consent or a
    /// live grant); when there was none, nothing is written.
    ///
    /// Two transactions, in this order: a redemption that committed its grant before the first sees no
    /// withdrawal, but its grant is revoked by the second; one that commits after the first finds the withdrawal
    /// when it checks.
    pub async fn withdraw_consent(&self, user_id: &str, client_id: &str, now: i64) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let forgot = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if forgot == 0 {
            let live: Option<String> = sqlx::query_scalar(
                "SELECT id FROM grants WHERE user_id = $1 AND client_id = $2 AND revoked = 0 LIMIT 1",
            )
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
            if live.is_none() {
                // Nothing to withdraw: nothing is recorded either.
                tx.rollback().await?;
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO consent_withdrawals (user_id, client_id, withdrawn_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET withdrawn_at = excluded.withdrawn_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut tx = self.pool.begin().await?;
        for table in ["access_tokens", "refresh_tokens"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE grant_id IN \
                 (SELECT id FROM grants WHERE user_id = $1 AND client_id = $2)"
            ))
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        }
        let revoked = sqlx::query(
            "UPDATE grants SET revoked = 1 WHERE user_id = $1 AND client_id = $2 AND revoked = 0",
        )
        .bind(user_id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(forgot + revoked > 0)
    }

    /// When `user_id` last withdrew consent from `client_id`, if ever.
    pub async fn consent_withdrawn_at(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT withdrawn_at FROM consent_withdrawals WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

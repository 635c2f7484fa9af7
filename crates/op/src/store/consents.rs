//! The `consents` table: what each user consented to release to each client (scopes, and individual claims);
//! and withdrawing it (`consent_withdrawals`, with the grants and tokens a withdrawal revokes).
//!
//! Must not hold queries of other tables, but for what a withdrawal revokes.

use super::{ConsentRow, Result, Store};

/// Seconds added to a withdrawal's time: what an authorization that read the consent just before it was
/// withdrawn issues is stamped within them, and refused. (Consent given again that soon is refused once.)
pub const WITHDRAWAL_MARGIN: i64 = 2;

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

    /// The applications `user_id` gave access to, by client id: those consented to (with the scopes) and those
    /// holding a live grant without remembered consent (with no scopes: a trusted login-bridge site's sign-in
    /// grants without asking, and a withdrawal cut short leaves its grants listed, to be withdrawn again).
    pub async fn applications_of(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        let consented: Vec<(String, String)> =
            sqlx::query_as("SELECT client_id, scope FROM consents WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        let granted: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT client_id FROM grants WHERE user_id = $1 AND revoked = 0",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut apps: std::collections::BTreeMap<String, String> = consented.into_iter().collect();
        for client in granted {
            apps.entry(client).or_default();
        }
        Ok(apps.into_iter().collect())
    }

    /// Whether `user_id` has a live grant with `client_id`.
    async fn has_live_grant(&self, user_id: &str, client_id: &str) -> Result<bool> {
        let live: Option<String> = sqlx::query_scalar(
            "SELECT id FROM grants WHERE user_id = $1 AND client_id = $2 AND revoked = 0 LIMIT 1",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(live.is_some())
    }

    /// Withdraws `user_id`'s consent from `client_id`: forgets what was consented to, records when (a code issued
    /// at or before that time is refused at redemption, tokens issued at the authorization endpoint likewise:
    /// [`Store::consent_withdrawn_since`]), then revokes every grant of that user and client with its tokens.
    /// Whether there was anything to withdraw (remembered consent or a live grant); when there was none, nothing
    /// is written (and no lock taken).
    ///
    /// Two transactions, in this order. (1) The consent row goes, and the withdrawal is recorded with the time
    /// after the deletion plus [`WITHDRAWAL_MARGIN`]: no authorization begun after (1) finds the consent, and one
    /// that read it before stamps its code or tokens within the margin, so they are refused. (2) The grants are
    /// revoked: a redemption that committed its grant before (1) committed, and so saw no withdrawal, is revoked
    /// here; one that commits later finds the withdrawal when it checks. A withdrawal cut short between the two
    /// is repeated by asking again: the client stays listed by its live grants ([`Store::applications_of`]).
    pub async fn withdraw_consent(&self, user_id: &str, client_id: &str) -> Result<bool> {
        if self.consent(user_id, client_id).await?.is_none()
            && !self.has_live_grant(user_id, client_id).await?
        {
            return Ok(false);
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        let at = crate::now().saturating_add(WITHDRAWAL_MARGIN);
        // A later time is never replaced by an earlier one (a clock behind on another node).
        sqlx::query(
            "INSERT INTO consent_withdrawals (user_id, client_id, withdrawn_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET withdrawn_at = CASE \
             WHEN excluded.withdrawn_at > consent_withdrawals.withdrawn_at THEN excluded.withdrawn_at \
             ELSE consent_withdrawals.withdrawn_at END",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE users SET consent_withdrawn_at = $2 WHERE id = $1 \
             AND (consent_withdrawn_at IS NULL OR consent_withdrawn_at < $2)",
        )
        .bind(user_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // The grants first, then their tokens: the order `revoke_grant` locks in (no deadlock between them).
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE grants SET revoked = 1 WHERE user_id = $1 AND client_id = $2 AND revoked = 0",
        )
        .bind(user_id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
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
        tx.commit().await?;
        Ok(true)
    }

    /// Whether `user` withdrew consent from `client_id` at or after `since`: what a redemption asks of the code's
    /// user, as the redemption read it.
    ///
    /// On SQLite write transactions run one at a time and the redemption read the user inside its own, so a
    /// withdrawal either committed before (and the user's `consent_withdrawn_at` says so) or revokes the grant the
    /// redemption stored: only a user with a withdrawal since `since` costs a query. On PostgreSQL a withdrawal can
    /// commit between the redemption's read of the user and its commit without seeing its grant, so the
    /// withdrawals are read again, after the redemption committed.
    pub async fn consent_withdrawn_since(
        &self,
        user: &super::UserRow,
        client_id: &str,
        since: i64,
    ) -> Result<bool> {
        if self.kind == super::DbKind::Sqlite && user.consent_withdrawn_at.is_none_or(|w| w < since)
        {
            return Ok(false);
        }
        Ok(self
            .consent_withdrawn_at(&user.id, client_id)
            .await?
            .is_some_and(|w| w >= since))
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

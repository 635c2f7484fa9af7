//! The federation tables beside the bridge's: `upstream_requests` (logins sent out to an upstream provider,
//! taken once at the callback), `upstream_accounts` (which local account an upstream subject is) and
//! `selector_choices` (the identity provider a visitor chose, remembered until it expires).
//!
//! Must not hold queries of other tables.

use sqlx::Row;

use super::{Result, Store};

/// A login sent out to an upstream provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequestRow {
    /// The SHA-256 of the `state` sent.
    pub state_hash: String,
    /// The upstream's id.
    pub upstream_id: String,
    /// The pending authorization request it answers.
    pub pending_id: String,
    /// The hash of the browser binding it was sent out from.
    pub browser: String,
    /// The relying party's login state (JSON).
    pub session: String,
    /// When it expires (seconds).
    pub expires_at: i64,
}

impl Store {
    /// Stores a login sent out.
    pub async fn put_upstream_request(&self, r: &UpstreamRequestRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO upstream_requests (state_hash, upstream_id, pending_id, browser, session, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&r.state_hash)
        .bind(&r.upstream_id)
        .bind(&r.pending_id)
        .bind(&r.browser)
        .bind(&r.session)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A login sent out, by the hash of its `state` (expired ones too, until purged).
    pub async fn upstream_request(&self, state_hash: &str) -> Result<Option<UpstreamRequestRow>> {
        let r = sqlx::query(
            "SELECT state_hash, upstream_id, pending_id, browser, session, expires_at FROM upstream_requests \
             WHERE state_hash = $1",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(UpstreamRequestRow {
                state_hash: r.try_get("state_hash")?,
                upstream_id: r.try_get("upstream_id")?,
                pending_id: r.try_get("pending_id")?,
                browser: r.try_get("browser")?,
                session: r.try_get("session")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Takes a login sent out: true for the one caller that did.
    pub async fn take_upstream_request(&self, state_hash: &str) -> Result<bool> {
        let _w = self.write().await;
        Ok(
            sqlx::query("DELETE FROM upstream_requests WHERE state_hash = $1")
                .bind(state_hash)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// The local account of an upstream subject, if linked.
    pub async fn upstream_account(&self, upstream: &str, subject: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT user_id FROM upstream_accounts WHERE upstream_id = $1 AND subject = $2",
        )
        .bind(upstream)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Links an upstream subject to a local account, unless linked already; the account it is linked to.
    pub async fn link_upstream_account(
        &self,
        upstream: &str,
        subject: &str,
        user_id: &str,
        now: i64,
    ) -> Result<String> {
        {
            let _w = self.write().await;
            sqlx::query(
                "INSERT INTO upstream_accounts (upstream_id, subject, user_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(upstream)
            .bind(subject)
            .bind(user_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(self
            .upstream_account(upstream, subject)
            .await?
            .unwrap_or_else(|| user_id.to_owned()))
    }

    /// Remembers a choice until `expires_at`.
    pub async fn put_selector_choice(
        &self,
        key_hash: &str,
        idp_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO selector_choices (key_hash, idp_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key_hash) DO UPDATE SET idp_id = excluded.idp_id, expires_at = excluded.expires_at",
        )
        .bind(key_hash)
        .bind(idp_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A remembered, unexpired choice.
    pub async fn selector_choice(&self, key_hash: &str, now: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT idp_id FROM selector_choices WHERE key_hash = $1 AND expires_at > $2",
        )
        .bind(key_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}

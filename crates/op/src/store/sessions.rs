//! The `sessions` table: login sessions, and the session context the authorization endpoint reads with the
//! user and consent in one query (through the SQLite engine when there is one).
//!
//! Must not write other tables.

use sqlx::Row;

use super::columns::{JOINED_USER_COLUMNS, joined_user};
use super::engine::{WriteOp, WriteOut};
use super::{ConsentRow, Result, SessionContext, SessionRow, Store, StoreError};

impl Store {
    /// Stores a session.
    pub async fn put_session(&self, id_hash: &str, s: &SessionRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO sessions (id_hash, sid, user_id, auth_time, expires_at, authn) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(&s.sid)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .bind(&s.authn)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live session.
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        let r = sqlx::query(
            "SELECT sid, user_id, auth_time, expires_at, authn FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(SessionRow {
                sid: r.try_get("sid")?,
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
                expires_at: r.try_get("expires_at")?,
                authn: r.try_get("authn")?,
            })
        })
        .transpose()
    }

    /// A live session, its user and the user's consent for `client_id`, in one query (the authorization
    /// endpoint's hot path).
    pub async fn session_context(
        &self,
        id_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<SessionContext>> {
        if let Some(w) = &self.writer {
            return match w
                .submit(WriteOp::ReadSession {
                    id_hash: id_hash.to_owned(),
                    client_id: client_id.to_owned(),
                    now,
                })
                .await?
            {
                WriteOut::Session(s) => Ok(s),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        let r = sqlx::query(&format!(
            "SELECT s.sid, s.user_id, s.auth_time, s.expires_at, s.authn, {JOINED_USER_COLUMNS}, c.scope AS consent, c.claims AS consent_claims \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
             LEFT JOIN consents c ON c.user_id = s.user_id AND c.client_id = $2 \
             WHERE s.id_hash = $1 AND s.expires_at > $3"
        ))
        .bind(id_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(SessionContext {
                session: SessionRow {
                    sid: r.try_get("sid")?,
                    user_id: r.try_get("user_id")?,
                    auth_time: r.try_get("auth_time")?,
                    expires_at: r.try_get("expires_at")?,
                    authn: r.try_get("authn")?,
                },
                user: joined_user(&r)?,
                consent: r
                    .try_get::<Option<String>, _>("consent")?
                    .map(|scope| -> Result<ConsentRow> {
                        Ok(ConsentRow {
                            scope,
                            claims: r.try_get("consent_claims")?,
                        })
                    })
                    .transpose()?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a user (after a password change); returns how many.
    pub async fn delete_user_sessions(&self, user_id: &str) -> Result<u64> {
        let _w = self.write().await;
        Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Ends every session of `user_id` but the one whose cookie hashes to `keep`; how many ended.
    pub async fn delete_user_sessions_except(&self, user_id: &str, keep: &str) -> Result<u64> {
        let _w = self.write().await;
        Ok(
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

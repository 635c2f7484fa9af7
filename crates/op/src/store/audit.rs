//! The `audit_events` table: appended to, listed by user and time, purged by age.
//!
//! Must not hold queries of other tables, or change an event once written.

use sqlx::Row;

use super::{Result, Store};

/// An audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its id (when it was recorded, in microseconds, then random: ids sort in recording order).
    pub id: String,
    /// When (seconds since the epoch).
    pub at: i64,
    /// What happened (`sign_in`, `factor`, `passkey_added`, ...).
    pub kind: String,
    /// `success` or `failure` (or what the kind says, e.g. `conflict` for a bridge postback).
    pub outcome: String,
    /// The user concerned, when known.
    pub user_id: Option<String>,
    /// The client concerned, when there is one.
    pub client_id: Option<String>,
    /// The client address, when the event came over HTTP.
    pub address: Option<String>,
    /// What else says what happened (a method, a factor, a reason); never a secret.
    pub detail: String,
}

impl Store {
    /// Appends an event.
    pub async fn record_audit(&self, e: &AuditRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO audit_events (id, at, kind, outcome, user_id, client_id, address, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(e.at)
        .bind(&e.kind)
        .bind(&e.outcome)
        .bind(&e.user_id)
        .bind(&e.client_id)
        .bind(&e.address)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Events since `since` (seconds), of `user_id` when given, oldest first, at most `limit`.
    pub async fn audit_events(
        &self,
        user_id: Option<&str>,
        since: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        let rows = match user_id {
            Some(u) => {
                sqlx::query(
                    "SELECT id, at, kind, outcome, user_id, client_id, address, detail FROM audit_events \
                     WHERE user_id = $1 AND at >= $2 ORDER BY at, id LIMIT $3",
                )
                .bind(u)
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, at, kind, outcome, user_id, client_id, address, detail FROM audit_events \
                     WHERE at >= $1 ORDER BY at, id LIMIT $2",
                )
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    outcome: r.try_get("outcome")?,
                    user_id: r.try_get("user_id")?,
                    client_id: r.try_get("client_id")?,
                    address: r.try_get("address")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Deletes the events older than `before` (seconds); how many.
    pub async fn purge_audit(&self, before: i64) -> Result<u64> {
        let _w = self.write().await;
        Ok(sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

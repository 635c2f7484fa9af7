//! The `pending_requests` table: authorization requests waiting for login or consent, and pushed ones (PAR).
//!
//! Must not hold queries of other tables.

use sqlx::Row;

use super::{PendingRow, Result, Store};

impl Store {
    /// Stores a pending or pushed request.
    pub async fn put_pending(&self, p: &PendingRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO pending_requests (id, kind, client_id, params, csrf, expires_at, browser) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.id)
        .bind(&p.kind)
        .bind(&p.client_id)
        .bind(&p.params)
        .bind(&p.csrf)
        .bind(p.expires_at)
        .bind(&p.browser)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A pending request that has not expired.
    pub async fn pending(&self, id: &str, kind: &str, now: i64) -> Result<Option<PendingRow>> {
        let r = sqlx::query(
            "SELECT id, kind, client_id, params, csrf, expires_at, browser FROM pending_requests \
             WHERE id = $1 AND kind = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(kind)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(PendingRow {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                client_id: r.try_get("client_id")?,
                params: r.try_get("params")?,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
                browser: r.try_get("browser")?,
            })
        })
        .transpose()
    }

    /// Counts one attempt (a failed sign-in, a begun ceremony) on a pending request; the count so far, or 0
    /// when the request is gone.
    pub async fn count_attempt(&self, id: &str) -> Result<i64> {
        let _w = self.write().await;
        Ok(sqlx::query_scalar::<_, i64>(
            "UPDATE pending_requests SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(0))
    }

    /// Keeps an unexpired pushed request until `until`, once: at its first visit (the visit is counted in its
    /// `attempts`, unused otherwise for pushed requests), so that later visits cannot keep it alive.
    pub async fn extend_pending_once(&self, id: &str, now: i64, until: i64) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "UPDATE pending_requests SET expires_at = $3, attempts = attempts + 1 \
             WHERE id = $1 AND expires_at > $2 AND expires_at < $3 AND attempts = 0",
        )
        .bind(id)
        .bind(now)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a pending request; true when this call removed it (single use).
    pub async fn take_pending(&self, id: &str) -> Result<bool> {
        let _w = self.write().await;
        Ok(sqlx::query("DELETE FROM pending_requests WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }
}

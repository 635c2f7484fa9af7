//! The schema: the migrations in `crates/op/migrations/` (portable SQL, the same on SQLite and PostgreSQL)
//! and applying the missing ones when the store opens.
//!
//! Must not query the tables themselves; a schema change is a new migration file listed here, never an
//! edit of one already released.

use super::{Result, Store};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_token_binding.sql")),
    (
        3,
        include_str!("../../migrations/0003_sealed_client_secrets.sql"),
    ),
    (4, include_str!("../../migrations/0004_expiry_indexes.sql")),
    (5, include_str!("../../migrations/0005_purge_by_key.sql")),
    (6, include_str!("../../migrations/0006_access_on_grant.sql")),
    (7, include_str!("../../migrations/0007_authn.sql")),
    (8, include_str!("../../migrations/0008_pending_browser.sql")),
    (9, include_str!("../../migrations/0009_consent_claims.sql")),
    (
        10,
        include_str!("../../migrations/0010_pending_attempts.sql"),
    ),
    (11, include_str!("../../migrations/0011_passkeys.sql")),
    (
        12,
        include_str!("../../migrations/0012_passkey_attestation.sql"),
    ),
    (13, include_str!("../../migrations/0013_factors.sql")),
    (14, include_str!("../../migrations/0014_factor_limits.sql")),
    (15, include_str!("../../migrations/0015_bridge.sql")),
    (16, include_str!("../../migrations/0016_upstream.sql")),
    (17, include_str!("../../migrations/0017_audit.sql")),
    (
        18,
        include_str!("../../migrations/0018_consent_withdrawals.sql"),
    ),
];

impl Store {
    pub(super) async fn migrate(&self) -> Result<()> {
        let _w = self.write().await;
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                    .bind(*version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

//! The `settings` table: named values the provider keeps across restarts (first writer wins on a shared
//! database).
//!
//! Must not hold queries of other tables.

use super::{Result, Store, StoreError};

impl Store {
    /// A stored setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores a setting unless it exists; returns the stored value (the first writer wins on a shared DB).
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        self.setting(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt("setting vanished".into()))
    }
}

//! The `settings` table: named values the provider keeps across restarts (first writer wins on a shared
//! database). Every value is a secret and is stored sealed under the key-encryption key (see `at_rest`).
//!
//! Must not hold queries of other tables, or store a value in clear.

use zeroize::Zeroizing;

use super::at_rest::setting_slot;
use super::{Result, Store, StoreError};

impl Store {
    /// A stored setting, opened.
    pub async fn setting(&self, name: &str) -> Result<Option<Zeroizing<String>>> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        sealed
            .map(|v| self.kek()?.open(&setting_slot(name), &v))
            .transpose()
    }

    /// Stores a setting unless it exists; returns the stored value (the first writer wins on a shared DB).
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<Zeroizing<String>> {
        let sealed = self.kek()?.seal(&setting_slot(name), value)?;
        {
            let _w = self.write().await;
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&sealed)
            .execute(&self.pool)
            .await?;
        }
        self.setting(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt("setting vanished".into()))
    }
}

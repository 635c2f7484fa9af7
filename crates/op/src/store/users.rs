//! The `users` table: local accounts, looked up by id or login name (also inside another query's transaction,
//! [`user_on`]).
//!
//! Must not hold queries of other tables.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Result, Store, UserRow};

impl Store {
    /// Inserts a user; false when the username is taken.
    pub async fn add_user(&self, u: &UserRow, now: i64) -> Result<bool> {
        let _w = self.write().await;
        let n = sqlx::query(
            "INSERT INTO users (id, username, password_hash, claims, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.claims)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub(super) fn user_from(r: &AnyRow) -> Result<UserRow> {
        Ok(UserRow {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            password_hash: r.try_get("password_hash")?,
            claims: r.try_get("claims")?,
            consent_withdrawn_at: r.try_get("consent_withdrawn_at")?,
        })
    }

    /// A user by login name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        sqlx::query("SELECT id, username, password_hash, claims, consent_withdrawn_at FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(Self::user_from)
            .transpose()
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>> {
        sqlx::query("SELECT id, username, password_hash, claims, consent_withdrawn_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(Self::user_from)
            .transpose()
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        sqlx::query("SELECT id, username, password_hash, claims, consent_withdrawn_at FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::user_from)
            .collect()
    }

    /// Replaces a user's claims (a JSON object); false when there is no such user.
    pub async fn set_user_claims(&self, id: &str, claims: &str) -> Result<bool> {
        let _w = self.write().await;
        Ok(sqlx::query("UPDATE users SET claims = $1 WHERE id = $2")
            .bind(claims)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }

    /// Sets a user's password hash; false when there is no such user.
    pub async fn set_password(&self, username: &str, hash: &str) -> Result<bool> {
        let _w = self.write().await;
        Ok(
            sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
                .bind(hash)
                .bind(username)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }
}

pub(super) fn user_on<'a>(
    conn: &'a mut AnyConnection,
    id: &'a str,
) -> futures_core::future::BoxFuture<'a, Result<Option<UserRow>>> {
    Box::pin(async move {
        sqlx::query("SELECT id, username, password_hash, claims, consent_withdrawn_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(Store::user_from)
            .transpose()
    })
}

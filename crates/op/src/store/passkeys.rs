//! The `passkeys` table (users' WebAuthn credentials, see `crate::authn::passkey`) and the `rp_accounts` table
//! (the accounts relying parties created, by their own identifier for the user).
//!
//! Must not hold queries of other tables, or decide whether a credential is acceptable (the verifier does).

use sqlx::Row;

use super::{Result, Store};

/// A stored passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRow {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its user.
    pub user_id: String,
    /// The WebAuthn user handle of that user (a UUID, the same for all of one user's passkeys).
    pub user_handle: String,
    /// The verifier's record of the credential (JSON: public key, sign counter, flags).
    pub credential: String,
    /// A name the user recognises it by.
    pub name: String,
    /// Whether it may be synced to other devices (WebAuthn backup eligibility), as last seen.
    pub backup_eligible: bool,
    /// Whether it is synced (backed up), as last seen.
    pub backup_state: bool,
    /// When it was registered.
    pub created_at: i64,
    /// When it last signed someone in.
    pub last_used_at: Option<i64>,
    /// Whether an assertion's sign counter went backwards (a possible cloned authenticator).
    pub suspect_clone: bool,
    /// The authenticator model (AAGUID) a verified attestation named, when there was one.
    pub aaguid: Option<String>,
    /// Whether it was registered with an attestation that chained to a configured attestation CA.
    pub attested: bool,
}

/// What [`Store::remove_passkey`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The passkey is gone.
    Removed,
    /// The user has no such passkey.
    NotFound,
    /// Kept: it is the user's last way to sign in.
    LastWayToSignIn,
}

const COLUMNS: &str = "credential_id, user_id, user_handle, credential, name, backup_eligible, backup_state, \
                       created_at, last_used_at, suspect_clone, aaguid, attested";

fn row(r: &sqlx::any::AnyRow) -> Result<PasskeyRow> {
    Ok(PasskeyRow {
        credential_id: r.try_get("credential_id")?,
        user_id: r.try_get("user_id")?,
        user_handle: r.try_get("user_handle")?,
        credential: r.try_get("credential")?,
        name: r.try_get("name")?,
        backup_eligible: r.try_get::<i64, _>("backup_eligible")? != 0,
        backup_state: r.try_get::<i64, _>("backup_state")? != 0,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        suspect_clone: r.try_get::<i64, _>("suspect_clone")? != 0,
        aaguid: r.try_get("aaguid")?,
        attested: r.try_get::<i64, _>("attested")? != 0,
    })
}

impl Store {
    /// Stores a new passkey; false when its credential id is already registered (to anyone).
    pub async fn add_passkey(&self, p: &PasskeyRow) -> Result<bool> {
        let _w = self.write().await;
        Ok(sqlx::query(&format!(
            "INSERT INTO passkeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (credential_id) DO NOTHING"
        ))
        .bind(&p.credential_id)
        .bind(&p.user_id)
        .bind(&p.user_handle)
        .bind(&p.credential)
        .bind(&p.name)
        .bind(i64::from(p.backup_eligible))
        .bind(i64::from(p.backup_state))
        .bind(p.created_at)
        .bind(p.last_used_at)
        .bind(i64::from(p.suspect_clone))
        .bind(&p.aaguid)
        .bind(i64::from(p.attested))
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// The passkey with this credential id.
    pub async fn passkey(&self, credential_id: &str) -> Result<Option<PasskeyRow>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(row)
        .transpose()
    }

    /// A user's passkeys, oldest first.
    pub async fn passkeys_of(&self, user_id: &str) -> Result<Vec<PasskeyRow>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row)
        .collect()
    }

    /// Records a use: the updated credential record (its new sign counter), the flags seen, and the time.
    pub async fn passkey_used(
        &self,
        credential_id: &str,
        credential: &str,
        (backup_eligible, backup_state): (bool, bool),
        now: i64,
    ) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "UPDATE passkeys SET credential = $2, backup_eligible = $3, backup_state = $4, last_used_at = $5 \
             WHERE credential_id = $1",
        )
        .bind(credential_id)
        .bind(credential)
        .bind(i64::from(backup_eligible))
        .bind(i64::from(backup_state))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Renames one of `user_id`'s passkeys; false when the user has no such passkey.
    pub async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> Result<bool> {
        let _w = self.write().await;
        Ok(
            sqlx::query("UPDATE passkeys SET name = $3 WHERE credential_id = $1 AND user_id = $2")
                .bind(credential_id)
                .bind(user_id)
                .bind(name)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// Removes one of `user_id`'s passkeys unless it is the user's last way to sign in (no password, no other
    /// usable passkey). One transaction that first locks the user's row (PostgreSQL: `FOR UPDATE`; SQLite has a
    /// single writer), so two concurrent removals — from two nodes, say — cannot both pass the check.
    pub async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<Removal> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        if self.kind() == super::DbKind::Postgres {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let removed = sqlx::query(
            "DELETE FROM passkeys WHERE credential_id = $1 AND user_id = $2 AND (\
               EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash <> '') OR \
               EXISTS (SELECT 1 FROM passkeys WHERE user_id = $2 AND credential_id <> $1 AND suspect_clone = 0))",
        )
        .bind(credential_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = if removed == 1 {
            Removal::Removed
        } else if sqlx::query("SELECT 1 FROM passkeys WHERE credential_id = $1 AND user_id = $2")
            .bind(credential_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some()
        {
            Removal::LastWayToSignIn
        } else {
            Removal::NotFound
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Marks a passkey whose sign counter went backwards.
    pub async fn passkey_suspect_clone(&self, credential_id: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query("UPDATE passkeys SET suspect_clone = 1 WHERE credential_id = $1")
            .bind(credential_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user a relying party's identifier names (an account it created), if any.
    pub async fn rp_account(&self, client_id: &str, rp_user_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM rp_accounts WHERE client_id = $1 AND rp_user_id = $2",
        )
        .bind(client_id)
        .bind(rp_user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records the account a relying party created; false when its identifier names one already.
    pub async fn put_rp_account(
        &self,
        client_id: &str,
        rp_user_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<bool> {
        let _w = self.write().await;
        Ok(sqlx::query(
            "INSERT INTO rp_accounts (client_id, rp_user_id, user_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (client_id, rp_user_id) DO NOTHING",
        )
        .bind(client_id)
        .bind(rp_user_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Creates a relying party's account in one transaction: the user, the (client, identifier) mapping and the
    /// first passkey. False — and nothing written — when the username, the identifier or the credential is
    /// taken already.
    pub async fn create_passkey_account(
        &self,
        user: &super::UserRow,
        client_id: &str,
        rp_user_id: &str,
        passkey: &PasskeyRow,
        now: i64,
    ) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let inserted = |r: sqlx::any::AnyQueryResult| r.rows_affected() == 1;
        let user_ok = inserted(
            sqlx::query(
                "INSERT INTO users (id, username, password_hash, claims, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(&user.claims)
            .bind(now)
            .execute(&mut *tx)
            .await?,
        );
        let account_ok = user_ok
            && inserted(
                sqlx::query(
                    "INSERT INTO rp_accounts (client_id, rp_user_id, user_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (client_id, rp_user_id) DO NOTHING",
                )
                .bind(client_id)
                .bind(rp_user_id)
                .bind(&user.id)
                .bind(now)
                .execute(&mut *tx)
                .await?,
            );
        let passkey_ok = account_ok
            && inserted(
                sqlx::query(&format!(
                    "INSERT INTO passkeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (credential_id) DO NOTHING"
                ))
                .bind(&passkey.credential_id)
                .bind(&passkey.user_id)
                .bind(&passkey.user_handle)
                .bind(&passkey.credential)
                .bind(&passkey.name)
                .bind(i64::from(passkey.backup_eligible))
                .bind(i64::from(passkey.backup_state))
                .bind(passkey.created_at)
                .bind(passkey.last_used_at)
                .bind(i64::from(passkey.suspect_clone))
                .bind(&passkey.aaguid)
                .bind(i64::from(passkey.attested))
                .execute(&mut *tx)
                .await?,
            );
        if passkey_ok {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(passkey_ok)
    }
}

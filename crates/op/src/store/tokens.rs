//! The `access_tokens` and `refresh_tokens` tables, and the access token kept on its grant's row: lookups,
//! refresh token rotation, deletion.
//!
//! Must not insert tokens (that is done with their grant or code, `grants.rs` and `codes.rs`).

use sqlx::Row;

use super::columns::{GRANT_COLUMNS, JOINED_USER_COLUMNS, grant_from, joined_user};
use super::engine::{WriteOp, WriteOut};
use super::token_key::grant_token_matches;
use super::{AccessTokenRow, Consumed, GrantRow, Result, Store, StoreError, TokenKey};

impl Store {
    /// Consumes a refresh token of `client_id` (rotation): marks it used if it was not, atomically. Returns the
    /// grant and the token's scope. A token of another client is `Unknown` and stays as it was.
    pub async fn consume_refresh(
        &self,
        key: &TokenKey,
        client_id: &str,
        now: i64,
    ) -> Result<Consumed<(GrantRow, String)>> {
        let _w = self.write().await;
        for k in key.candidates() {
            // Only the client the token was issued to consumes it: another client's attempt changes nothing
            // (and is answered as an unknown token, not as reuse).
            let n = sqlx::query(
                "UPDATE refresh_tokens SET used = 1 WHERE hash = $1 AND used = 0 AND expires_at > $2 \
                 AND grant_id IN (SELECT id FROM grants WHERE client_id = $3)",
            )
            .bind(k)
            .bind(now)
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
            let row = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS}, r.scope AS token_scope, r.expires_at AS token_exp \
                 FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1"
            ))
            .bind(k)
            .fetch_optional(&self.pool)
            .await?;
            let Some(r) = row else {
                continue;
            };
            let g = grant_from(&r)?;
            let exp: i64 = r.try_get("token_exp")?;
            return if g.client_id != client_id {
                Ok(Consumed::Unknown)
            } else if n == 1 {
                Ok(Consumed::Fresh((g, r.try_get("token_scope")?)))
            } else if exp <= now {
                Ok(Consumed::Unknown)
            } else {
                Ok(Consumed::Replayed(g.id))
            };
        }
        Ok(Consumed::Unknown)
    }

    /// A live access token with its (unrevoked) grant.
    pub async fn access_token(&self, key: &TokenKey, now: i64) -> Result<Option<AccessTokenRow>> {
        if let Some(w) = &self.writer {
            return match w
                .submit(WriteOp::ReadAccess {
                    key: key.clone(),
                    now,
                })
                .await?
            {
                WriteOut::Access(a) => Ok(a),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        if let Some((grant_id, hash)) = &key.grant {
            return self.grant_access_token(grant_id, hash, now).await;
        }
        for k in key.candidates() {
            let r = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS}, a.scope AS token_scope, a.expires_at AS token_exp, a.cnf AS token_cnf, \
                 {JOINED_USER_COLUMNS} \
                 FROM access_tokens a JOIN grants g ON g.id = a.grant_id LEFT JOIN users u ON u.id = g.user_id \
                 WHERE a.hash = $1 AND a.expires_at > $2 AND g.revoked = 0"
            ))
            .bind(k)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = r {
                return Ok(Some(AccessTokenRow {
                    grant: grant_from(&r)?,
                    scope: r.try_get("token_scope")?,
                    expires_at: r.try_get("token_exp")?,
                    cnf: r.try_get("token_cnf")?,
                    user: joined_user(&r)?,
                }));
            }
        }
        Ok(None)
    }

    /// An access token kept on its grant ([`TokenKey::grant`]), through the pool.
    async fn grant_access_token(
        &self,
        grant_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<Option<AccessTokenRow>> {
        let r = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS}, g.access_hash AS token_hash, g.access_expires_at AS token_exp, \
             g.access_cnf AS token_cnf, {JOINED_USER_COLUMNS} \
             FROM grants g LEFT JOIN users u ON u.id = g.user_id \
             WHERE g.id = $1 AND g.revoked = 0 AND g.access_hash IS NOT NULL"
        ))
        .bind(grant_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = r else {
            return Ok(None);
        };
        let stored: String = r.try_get("token_hash")?;
        let expires_at: i64 = r.try_get("token_exp")?;
        if !grant_token_matches(&stored, hash) || expires_at <= now {
            return Ok(None);
        }
        let grant = grant_from(&r)?;
        Ok(Some(AccessTokenRow {
            scope: grant.scope.clone(),
            grant,
            expires_at,
            cnf: r.try_get("token_cnf")?,
            user: joined_user(&r)?,
        }))
    }

    /// A live refresh token's grant id and client (for revocation and introspection).
    pub async fn refresh_token_grant(
        &self,
        key: &TokenKey,
        now: i64,
    ) -> Result<Option<(GrantRow, String, i64)>> {
        for k in key.candidates() {
            let r = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS}, r.scope AS token_scope, r.expires_at AS token_exp \
                 FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id \
                 WHERE r.hash = $1 AND r.expires_at > $2 AND r.used = 0 AND g.revoked = 0"
            ))
            .bind(k)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = r {
                return Ok(Some((
                    grant_from(&r)?,
                    r.try_get("token_scope")?,
                    r.try_get("token_exp")?,
                )));
            }
        }
        Ok(None)
    }

    /// Deletes one access token.
    pub async fn delete_access_token(&self, key: &TokenKey) -> Result<()> {
        let _w = self.write().await;
        if let Some((grant_id, hash)) = &key.grant {
            sqlx::query(
                "UPDATE grants SET access_hash = NULL, access_expires_at = NULL, access_cnf = NULL \
                 WHERE id = $1 AND access_hash = $2",
            )
            .bind(grant_id)
            .bind(hash)
            .execute(&self.pool)
            .await?;
            return Ok(());
        }
        sqlx::query("DELETE FROM access_tokens WHERE hash IN ($1, $2)")
            .bind(&key.key)
            .bind(&key.legacy)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

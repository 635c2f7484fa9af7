//! The `grants` table: what one authorization allowed; issuing a grant with its code and tokens in one
//! transaction, reading it with its user, revoking it with its tokens. The transaction steps that insert a
//! grant and its tokens are here too ([`insert_grant`], [`insert_tokens`]), shared with `codes.rs`.
//!
//! Must not consume codes or look tokens up (`codes.rs`, `tokens.rs`).

use sqlx::AnyConnection;

use super::columns::{GRANT_COLUMNS, JOINED_USER_COLUMNS, grant_from, joined_user};
use super::engine::{WriteOp, owned_access, owned_refresh};
use super::{AccessInsert, CodeRow, GrantRow, GrantWithUser, Result, Store};

impl Store {
    /// Stores a grant and, in the same transaction, the code, access token and refresh token issued with it.
    pub async fn issue(
        &self,
        g: &GrantRow,
        code: Option<(&str, &CodeRow)>,
        access: Option<AccessInsert<'_>>,
        refresh: Option<(&str, &str, i64)>,
        now: i64,
    ) -> Result<()> {
        if let Some(w) = &self.writer {
            let op = WriteOp::Issue {
                grant: Box::new(g.clone()),
                code: code.map(|(h, c)| (h.to_owned(), c.clone())),
                access: access.map(owned_access),
                refresh: refresh.map(owned_refresh),
                now,
            };
            return w.submit(op).await.map(|_| ());
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        issue_on(&mut tx, g, code, access, refresh, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds tokens to an existing grant (code exchange, refresh).
    pub async fn add_tokens(
        &self,
        grant_id: &str,
        access: Option<AccessInsert<'_>>,
        refresh: Option<(&str, &str, i64)>,
    ) -> Result<()> {
        if let Some(w) = &self.writer {
            let op = WriteOp::AddTokens {
                grant_id: grant_id.to_owned(),
                access: access.map(owned_access),
                refresh: refresh.map(owned_refresh),
            };
            return w.submit(op).await.map(|_| ());
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        insert_tokens(&mut tx, grant_id, access, refresh).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A grant by id.
    pub async fn grant(&self, id: &str) -> Result<Option<GrantRow>> {
        sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(grant_from)
        .transpose()
    }

    /// A grant by id with its user.
    pub async fn grant_with_user(&self, id: &str) -> Result<Option<GrantWithUser>> {
        let mut conn = self.pool.acquire().await?;
        grant_with_user_on(&mut conn, id).await
    }

    /// Records the certificate (`x5t#S256`) a grant's tokens are bound to, unless one is recorded already.
    pub async fn bind_grant(&self, id: &str, cnf: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query("UPDATE grants SET cnf = $2 WHERE id = $1 AND cnf IS NULL")
            .bind(id)
            .bind(cnf)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes a grant and deletes every token issued from it.
    pub async fn revoke_grant(&self, id: &str) -> Result<()> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE grants SET revoked = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM access_tokens WHERE grant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE grant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts grant `g` (created at `now`), with the access token kept on it if `on_grant` (hash, expiry,
/// `cnf`). With `if_new`, an existing row with the same id is left alone (0 rows inserted); without, it is an
/// error. Returns the number of rows inserted.
pub(super) async fn insert_grant(
    conn: &mut AnyConnection,
    g: &GrantRow,
    now: i64,
    on_grant: Option<(&str, i64, Option<&str>)>,
    if_new: bool,
) -> Result<u64> {
    macro_rules! insert {
        () => {
            "INSERT INTO grants (id, client_id, user_id, scope, claims, auth_time, nonce, sid, cnf, revoked, \
             created_at, access_hash, access_expires_at, access_cnf, authn) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14)"
        };
    }
    let sql = if if_new {
        concat!(insert!(), " ON CONFLICT (id) DO NOTHING")
    } else {
        insert!()
    };
    let (hash, expires_at, cnf) = match on_grant {
        Some((h, e, c)) => (Some(h), Some(e), c),
        None => (None, None, None),
    };
    Ok(sqlx::query(sql)
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.scope)
        .bind(&g.claims)
        .bind(g.auth_time)
        .bind(&g.nonce)
        .bind(&g.sid)
        .bind(&g.cnf)
        .bind(now)
        .bind(hash)
        .bind(expires_at)
        .bind(cnf)
        .bind(&g.authn)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

async fn issue_on(
    conn: &mut AnyConnection,
    g: &GrantRow,
    code: Option<(&str, &CodeRow)>,
    access: Option<AccessInsert<'_>>,
    refresh: Option<(&str, &str, i64)>,
    now: i64,
) -> Result<()> {
    insert_grant(conn, g, now, None, false).await?;
    if let Some((hash, c)) = code {
        sqlx::query(
                "INSERT INTO codes (hash, grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, expires_at, used) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
            )
            .bind(hash)
            .bind(&c.grant_id)
            .bind(&c.client_id)
            .bind(&c.redirect_uri)
            .bind(&c.code_challenge)
            .bind(&c.code_challenge_method)
            .bind(c.expires_at)
            .execute(&mut *conn)
            .await?;
    }
    insert_tokens(conn, &g.id, access, refresh).await
}
pub(super) async fn insert_tokens(
    conn: &mut AnyConnection,
    grant_id: &str,
    access: Option<AccessInsert<'_>>,
    refresh: Option<(&str, &str, i64)>,
) -> Result<()> {
    if let Some((hash, scope, exp, cnf)) = access {
        sqlx::query(
            "INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) VALUES ($1, $2, $3, $4, $5)",
        )
            .bind(hash)
            .bind(grant_id)
            .bind(scope)
            .bind(exp)
            .bind(cnf)
            .execute(&mut *conn)
            .await?;
    }
    if let Some((hash, scope, exp)) = refresh {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(hash)
        .bind(grant_id)
        .bind(scope)
        .bind(exp)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) fn grant_with_user_on<'a>(
    conn: &'a mut AnyConnection,
    id: &'a str,
) -> futures_core::future::BoxFuture<'a, Result<Option<GrantWithUser>>> {
    Box::pin(async move {
        let r = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS}, {JOINED_USER_COLUMNS} FROM grants g \
             LEFT JOIN users u ON u.id = g.user_id WHERE g.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        r.map(|r| Ok((grant_from(&r)?, joined_user(&r)?)))
            .transpose()
    })
}

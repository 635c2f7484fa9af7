//! How stored rows are read back: typed column access shared by the pool's `AnyRow`s and the SQLite engine's
//! native rows, the grant and joined-user column lists that queries splice in, and the decoders of grant,
//! user and code rows.
//!
//! Must not run queries: the table modules and the engine do, and decode with these.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{CodeRow, GrantRow, Result, UserRow};

/// Typed column access shared by the pool's `AnyRow`s and the SQLite engine's native rows.
pub(super) trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
}

macro_rules! impl_cols {
    ($row:ty) => {
        impl Cols for $row {
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.try_get(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(self.try_get(col)?)
            }
            fn int(&self, col: &str) -> Result<i64> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.try_get(col)?)
            }
        }
    };
}
impl_cols!(AnyRow);
impl_cols!(sqlx::sqlite::SqliteRow);

pub(super) fn grant_from(row: &impl Cols) -> Result<GrantRow> {
    Ok(GrantRow {
        id: row.text("id")?,
        client_id: row.text("client_id")?,
        user_id: row.opt_text("user_id")?,
        scope: row.text("scope")?,
        claims: row.opt_text("claims")?,
        auth_time: row.opt_int("auth_time")?,
        nonce: row.opt_text("nonce")?,
        sid: row.opt_text("sid")?,
        cnf: row.opt_text("cnf")?,
        revoked: row.int("revoked")? != 0,
        authn: row.opt_text("authn")?,
    })
}

pub(super) const GRANT_COLUMNS: &str = "g.id, g.client_id, g.user_id, g.scope, g.claims, g.auth_time, g.nonce, g.sid, g.cnf, g.revoked, g.authn";

/// The user columns of a `LEFT JOIN users u`, prefixed so they cannot clash with the grant's.
pub(super) const JOINED_USER_COLUMNS: &str = "u.id AS u_id, u.username AS u_username, u.password_hash AS u_password_hash, u.claims AS u_claims, u.consent_withdrawn_at AS u_consent_withdrawn_at";

pub(super) fn joined_user(r: &impl Cols) -> Result<Option<UserRow>> {
    let Some(id) = r.opt_text("u_id")? else {
        return Ok(None);
    };
    Ok(Some(UserRow {
        id,
        username: r.text("u_username")?,
        password_hash: r.text("u_password_hash")?,
        claims: r.text("u_claims")?,
        consent_withdrawn_at: r.opt_int("u_consent_withdrawn_at")?,
    }))
}

pub(super) fn code_from(r: &impl Cols) -> Result<CodeRow> {
    Ok(CodeRow {
        grant_id: r.text("grant_id")?,
        client_id: r.text("client_id")?,
        redirect_uri: r.opt_text("redirect_uri")?,
        code_challenge: r.opt_text("code_challenge")?,
        code_challenge_method: r.opt_text("code_challenge_method")?,
        expires_at: r.int("expires_at")?,
    })
}

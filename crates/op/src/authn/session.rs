//! The browser's login session: found by the hash of its cookie, unexpired.
//!
//! Must not: create sessions for users no login method proved.

use axum::http::HeaderMap;

use crate::http::{self, HttpResult, db};
use crate::provider::Provider;
use crate::store::SessionRow;
use crate::{hash, now, random_token};

use super::AuthRecord;

impl Provider {
    /// The browser's current session and the hash it is stored under, if any.
    pub(crate) async fn current_session(
        &self,
        headers: &HeaderMap,
    ) -> HttpResult<Option<(String, SessionRow)>> {
        let Some(token) = http::cookie(headers, http::SESSION_COOKIE) else {
            return Ok(None);
        };
        let h = hash(token);
        Ok(self
            .store
            .session(&h, now())
            .await
            .map_err(db)?
            .map(|s| (h, s)))
    }
}

impl Provider {
    /// What `session` records of its authentication. A session stored before sessions recorded their methods
    /// counts as the primary method, passed at its `auth_time`.
    pub(crate) fn session_record(&self, session: &SessionRow) -> AuthRecord {
        if session.authn.is_empty() {
            AuthRecord::single(self.methods.primary().id(), session.auth_time)
        } else {
            AuthRecord::parse(&session.authn)
        }
    }

    /// Stores a new session of `user_id` with `record` (its `auth_time` is the newest step's) under a fresh
    /// cookie value, expiring at `expires_at` (by default the configured session lifetime from `t`); returns the
    /// cookie value and the row.
    pub(crate) async fn start_session(
        &self,
        user_id: &str,
        record: &AuthRecord,
        sid: String,
        expires_at: Option<i64>,
        t: i64,
    ) -> HttpResult<(String, SessionRow)> {
        let token = random_token();
        let session = SessionRow {
            sid,
            user_id: user_id.to_owned(),
            auth_time: record.auth_time().unwrap_or(t),
            expires_at: expires_at.unwrap_or(t + self.cfg.session_lifetime as i64),
            authn: record.encode(),
        };
        self.store
            .put_session(&hash(&token), &session)
            .await
            .map_err(db)?;
        Ok((token, session))
    }
}

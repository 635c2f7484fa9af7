//! The `user_factors` table (the step-up factors users enrolled) and the `factor_codes` table (one-time codes sent
//! by e-mail or SMS). TOTP seeds and codes are sealed under the key-encryption key (`at_rest.rs`), each in its
//! own slot, so that a dump of the database reveals neither.
//!
//! Must not hold queries of other tables, or decide what a factor proves (`crate::authn::factors` does).

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Result, Store};

/// The kinds whose `secret` is sealed (TOTP seeds).
const SEALED_KINDS: [&str; 2] = ["mobile_app", "mobile_app-setup"];

/// An enrolled factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorRow {
    /// `mobile_app`, `mobile_app-setup`, `email`, `sms` or `second_password`.
    pub kind: String,
    /// The TOTP seed (opened), the address or number, or the second password's hash.
    pub secret: Zeroizing<String>,
    /// For `mobile_app`: the newest TOTP time step accepted.
    pub last_step: i64,
    /// When it was enrolled.
    pub created_at: i64,
}

/// What checking a one-time code found ([`Store::try_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code was right (and is now used up); where it had been sent.
    Accepted {
        /// The address or number the code went to.
        destination: String,
    },
    /// Wrong code; the code stays usable for the attempts it has left.
    Wrong,
    /// No live code: never sent, expired, used, or its attempts are used up.
    NoCode,
}

/// A sent code's delivery facts (for the resend limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    /// Where it went.
    pub destination: String,
    /// When it was sent.
    pub sent_at: i64,
    /// When it stops working.
    pub expires_at: i64,
}

/// The slot a factor's sealed secret is bound to.
pub(super) fn factor_slot(kind: &str, user_id: &str) -> String {
    format!("user_factors:{kind}:{user_id}")
}

/// The slot a sealed code is bound to.
pub(super) fn code_slot(purpose: &str, user_id: &str) -> String {
    format!("factor_codes:{purpose}:{user_id}")
}

impl Store {
    /// Enrols (or replaces) a factor of `kind` for `user_id`; a TOTP seed is sealed first.
    pub async fn put_factor(
        &self,
        user_id: &str,
        kind: &str,
        secret: &str,
        now: i64,
    ) -> Result<()> {
        let stored = if SEALED_KINDS.contains(&kind) {
            self.kek()?.seal(&factor_slot(kind, user_id), secret)?
        } else {
            secret.to_owned()
        };
        let _w = self.write().await;
        // One statement: two nodes enrolling at once both succeed, the later one's value stays.
        sqlx::query(
            "INSERT INTO user_factors (user_id, kind, secret, last_step, created_at) VALUES ($1, $2, $3, 0, $4) \
             ON CONFLICT (user_id, kind) DO UPDATE SET secret = excluded.secret, last_step = 0, \
             created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(kind)
        .bind(&stored)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A user's factor of `kind` (a sealed secret opened), if enrolled.
    pub async fn factor(&self, user_id: &str, kind: &str) -> Result<Option<FactorRow>> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT secret, last_step, created_at FROM user_factors WHERE user_id = $1 AND kind = $2",
        )
        .bind(user_id)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        let Some((secret, last_step, created_at)) = row else {
            return Ok(None);
        };
        let secret = if SEALED_KINDS.contains(&kind) {
            self.kek()?.open(&factor_slot(kind, user_id), &secret)?
        } else {
            Zeroizing::new(secret)
        };
        Ok(Some(FactorRow {
            kind: kind.to_owned(),
            secret,
            last_step,
            created_at,
        }))
    }

    /// The kinds a user enrolled, with when (set-ups not yet confirmed included), sorted by kind.
    pub async fn factor_kinds(&self, user_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT kind, created_at FROM user_factors WHERE user_id = $1 ORDER BY kind",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a user's factor of `kind` (every factor with `None`); how many rows went.
    pub async fn remove_factor(&self, user_id: &str, kind: Option<&str>) -> Result<u64> {
        let _w = self.write().await;
        let q = match kind {
            Some(k) => sqlx::query("DELETE FROM user_factors WHERE user_id = $1 AND kind = $2")
                .bind(user_id)
                .bind(k),
            None => sqlx::query("DELETE FROM user_factors WHERE user_id = $1").bind(user_id),
        };
        Ok(q.execute(&self.pool).await?.rows_affected())
    }

    /// Makes a confirmed authenticator-app set-up the user's `mobile_app` factor (replacing an earlier one),
    /// with `step` as the newest step accepted (the confirming code cannot be used again) — only while the set-up
    /// still holds `seed`, the one the code was checked against. False when there was no such set-up.
    pub async fn confirm_app_setup(
        &self,
        user_id: &str,
        seed: &str,
        step: i64,
        now: i64,
    ) -> Result<bool> {
        let raw: Option<String> = sqlx::query_scalar(
            "SELECT secret FROM user_factors WHERE user_id = $1 AND kind = 'mobile_app-setup'",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(raw) = raw else {
            return Ok(false);
        };
        let kek = self.kek()?;
        if kek
            .open(&factor_slot("mobile_app-setup", user_id), &raw)?
            .as_str()
            != seed
        {
            return Ok(false);
        }
        let sealed = kek.seal(&factor_slot("mobile_app", user_id), seed)?;
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        // The very set-up that was checked (a set-up begun meanwhile replaced it: then nothing happens).
        let gone = sqlx::query(
            "DELETE FROM user_factors WHERE user_id = $1 AND kind = 'mobile_app-setup' AND secret = $2",
        )
        .bind(user_id)
        .bind(&raw)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if gone != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO user_factors (user_id, kind, secret, last_step, created_at) \
             VALUES ($1, 'mobile_app', $2, $3, $4) \
             ON CONFLICT (user_id, kind) DO UPDATE SET secret = excluded.secret, \
             last_step = excluded.last_step, created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(&sealed)
        .bind(step)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records TOTP time `step` as used for the user's `kind` factor: true only when it is newer than every step
    /// accepted before (atomic: two nodes cannot both accept one code).
    pub async fn accept_totp_step(&self, user_id: &str, kind: &str, step: i64) -> Result<bool> {
        let _w = self.write().await;
        Ok(sqlx::query(
            "UPDATE user_factors SET last_step = $3 WHERE user_id = $1 AND kind = $2 AND last_step < $3",
        )
        .bind(user_id)
        .bind(kind)
        .bind(step)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Stores a new one-time code for `(user_id, purpose)`, replacing any earlier one (sealed; expired codes of
    /// anyone are dropped on the way).
    pub async fn put_code(
        &self,
        user_id: &str,
        purpose: &str,
        code: &str,
        destination: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let sealed = self.kek()?.seal(&code_slot(purpose, user_id), code)?;
        let _w = self.write().await;
        sqlx::query("DELETE FROM factor_codes WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO factor_codes (user_id, purpose, code, destination, sent_at, expires_at, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, 0) \
             ON CONFLICT (user_id, purpose) DO UPDATE SET code = excluded.code, \
             destination = excluded.destination, sent_at = excluded.sent_at, \
             expires_at = excluded.expires_at, attempts = 0",
        )
        .bind(user_id)
        .bind(purpose)
        .bind(&sealed)
        .bind(destination)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Drops the code of `(user_id, purpose)` (one that could not be sent).
    pub async fn remove_code(&self, user_id: &str, purpose: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query("DELETE FROM factor_codes WHERE user_id = $1 AND purpose = $2")
            .bind(user_id)
            .bind(purpose)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The live code of `(user_id, purpose)`, if any (for the resend limit and to say where it went).
    pub async fn sent_code(
        &self,
        user_id: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<SentCode>> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT destination, sent_at, expires_at FROM factor_codes \
             WHERE user_id = $1 AND purpose = $2 AND expires_at > $3",
        )
        .bind(user_id)
        .bind(purpose)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(destination, sent_at, expires_at)| SentCode {
            destination,
            sent_at,
            expires_at,
        }))
    }

    /// Checks `given` against the live code of `(user_id, purpose)`: every check counts as an attempt first
    /// (atomically, so concurrent guesses see each other); the code is gone once right, and dead (kept until it
    /// expires, for the resend limit) once `max_attempts` were made.
    pub async fn try_code(
        &self,
        user_id: &str,
        purpose: &str,
        given: &str,
        now: i64,
        max_attempts: i64,
    ) -> Result<CodeCheck> {
        let row: Option<(String, String)> = {
            let _w = self.write().await;
            sqlx::query_as(
                "UPDATE factor_codes SET attempts = attempts + 1 \
                 WHERE user_id = $1 AND purpose = $2 AND expires_at > $3 AND attempts < $4 \
                 RETURNING code, destination",
            )
            .bind(user_id)
            .bind(purpose)
            .bind(now)
            .bind(max_attempts)
            .fetch_optional(&self.pool)
            .await?
        };
        let Some((sealed, destination)) = row else {
            return Ok(CodeCheck::NoCode);
        };
        let code = self.kek()?.open(&code_slot(purpose, user_id), &sealed)?;
        let right =
            code.len() == given.len() && bool::from(code.as_bytes().ct_eq(given.as_bytes()));
        // Used up by guesses: the row stays (dead: no try is left) until it expires, so that the resend limit
        // still sees when it was sent.
        if right {
            let _w = self.write().await;
            let gone = sqlx::query(
                "DELETE FROM factor_codes WHERE user_id = $1 AND purpose = $2 AND code = $3",
            )
            .bind(user_id)
            .bind(purpose)
            .bind(&sealed)
            .execute(&self.pool)
            .await?
            .rows_affected();
            // Right, and this check is the one that used it up (a concurrent right answer got nothing).
            if gone == 1 {
                return Ok(CodeCheck::Accepted { destination });
            }
            return Ok(CodeCheck::NoCode);
        }
        Ok(CodeCheck::Wrong)
    }

    /// Whether `user_id`'s `method` is locked: `max` wrong answers, the last within `lock_secs` of `now`.
    pub async fn factor_locked(
        &self,
        user_id: &str,
        method: &str,
        now: i64,
        (max, lock_secs): (i64, i64),
    ) -> Result<bool> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT count, last_at FROM factor_failures WHERE user_id = $1 AND method = $2",
        )
        .bind(user_id)
        .bind(method)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some_and(|(count, last)| count >= max && now - last < lock_secs))
    }

    /// Counts a wrong answer to `user_id`'s `method` (a count older than `forget_secs` starts over).
    pub async fn factor_failed(
        &self,
        user_id: &str,
        method: &str,
        now: i64,
        forget_secs: i64,
    ) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO factor_failures (user_id, method, count, last_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (user_id, method) DO UPDATE SET \
             count = CASE WHEN factor_failures.last_at < $4 THEN 1 ELSE factor_failures.count + 1 END, \
             last_at = excluded.last_at",
        )
        .bind(user_id)
        .bind(method)
        .bind(now)
        .bind(now - forget_secs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Clears the wrong answers to `user_id`'s `method` (it was just passed, or an administrator reset it).
    pub async fn factor_passed(&self, user_id: &str, method: Option<&str>) -> Result<()> {
        let _w = self.write().await;
        let q = match method {
            Some(m) => {
                sqlx::query("DELETE FROM factor_failures WHERE user_id = $1 AND method = $2")
                    .bind(user_id)
                    .bind(m)
            }
            None => sqlx::query("DELETE FROM factor_failures WHERE user_id = $1").bind(user_id),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Records a code sent to `user_id` at `now`, unless `max` were sent within the `window` seconds before:
    /// then false (nothing recorded). Entries older than a day go on the way.
    pub async fn count_send(
        &self,
        user_id: &str,
        now: i64,
        (max, window): (i64, i64),
    ) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM factor_sends WHERE user_id = $1 AND at < $2")
            .bind(user_id)
            .bind(now - 86_400)
            .execute(&mut *tx)
            .await?;
        let sent: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM factor_sends WHERE user_id = $1 AND at > $2")
                .bind(user_id)
                .bind(now - window)
                .fetch_one(&mut *tx)
                .await?;
        if sent >= max {
            return Ok(false);
        }
        sqlx::query("INSERT INTO factor_sends (user_id, at) VALUES ($1, $2)")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every sealed factor secret and code with its slot (for re-keying).
    pub(super) async fn factor_secret_rows(&self) -> Result<Vec<(String, String)>> {
        let mut rows: Vec<(String, String)> = sqlx::query_as::<_, (String, String, String)>(
            "SELECT kind, user_id, secret FROM user_factors WHERE kind IN ('mobile_app', 'mobile_app-setup')",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|(k, u, s)| (factor_slot(&k, &u), s))
        .collect();
        rows.extend(
            sqlx::query_as::<_, (String, String, String)>(
                "SELECT purpose, user_id, code FROM factor_codes",
            )
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(p, u, c)| (code_slot(&p, &u), c)),
        );
        Ok(rows)
    }
}

//! Deleting what can no longer be used, table by table ([`Store::purge_expired`]), with the ages and limits
//! it works by ([`PurgeAges`], [`PURGE_CHUNK`], [`CODE_REPLAY_WINDOW`]).
//!
//! Only deletes, in short chunks: must not be on the hot path or hold the write lock across chunks.

use super::{Result, Store};

/// Rows deleted per statement by [`Store::purge_expired`].
pub const PURGE_CHUNK: usize = 1000;
/// How long a code is kept after it expired, so that a late replay still revokes its grant.
pub const CODE_REPLAY_WINDOW: i64 = 600;

/// How old (seconds) a code, token or grant must be before [`Store::purge_expired`] looks at it: the lifetimes
/// the provider issues them with. The purge walks each table in key order (keys start with the issue time)
/// up to `now` minus that age, deleting the rows that have expired; it needs no expiry index, which the hot
/// path would otherwise write with every row. A row issued with a longer lifetime than the current one is
/// skipped until it expires; one issued with a shorter lifetime waits until it is that old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeAges {
    /// Code lifetime ([`CODE_REPLAY_WINDOW`] is added: expired codes are kept that long).
    pub code: i64,
    /// Access token lifetime.
    pub access_token: i64,
    /// Refresh token lifetime.
    pub refresh_token: i64,
    /// A grant without tokens left is deleted once this old (at least `code` + [`CODE_REPLAY_WINDOW`]: by
    /// then its code is gone).
    pub grant: i64,
}

/// The smallest time-ordered key (or grant id) of something issued at `secs` (Unix seconds): 12 hex digits
/// of Unix milliseconds. Every key of something issued earlier sorts below it.
fn key_bound(secs: i64) -> String {
    format!(
        "{:012x}",
        (secs.max(0) as u64)
            .saturating_mul(1000)
            .min(0xffff_ffff_ffff)
    )
}

/// What [`Store::purge_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    /// Codes.
    pub codes: u64,
    /// Access tokens.
    pub access_tokens: u64,
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Sessions.
    pub sessions: u64,
    /// Pending (login/consent) and pushed requests.
    pub pending_requests: u64,
    /// Federation state: requests sent out to a login-bridge site or an upstream provider, and expired
    /// identity-provider choices.
    pub federation: u64,
    /// Grants.
    pub grants: u64,
}

impl Store {
    /// Deletes what can no longer be used, in chunks of [`PURGE_CHUNK`] rows (each chunk a short write):
    /// expired access tokens, refresh tokens, sessions and pending requests; codes
    /// [`CODE_REPLAY_WINDOW`] seconds after they expired (until then a replay is still recognised and revokes
    /// the grant); grants older than `ages.grant` seconds (at least the code lifetime plus that window)
    /// that no token refers to any more. Codes, tokens and grants are looked for in key order among those
    /// issued at least their [`PurgeAges`] ago (see there). (Expired assertion `jti`s go whenever a new one
    /// is recorded.)
    pub async fn purge_expired(&self, now: i64, ages: &PurgeAges) -> Result<PurgeCounts> {
        let mut counts = PurgeCounts::default();
        let code_kept_until = now - CODE_REPLAY_WINDOW;
        // Codes and tokens: in key order up to the issue time after which nothing has expired yet, and
        // (rows of earlier versions) by expiry through the partial legacy indexes.
        let keyed: [(&str, i64, i64, &mut u64); 3] = [
            ("codes", code_kept_until, ages.code, &mut counts.codes),
            (
                "access_tokens",
                now,
                ages.access_token,
                &mut counts.access_tokens,
            ),
            (
                "refresh_tokens",
                now,
                ages.refresh_token,
                &mut counts.refresh_tokens,
            ),
        ];
        for (table, before, age, n) in keyed {
            let bound = key_bound(before.saturating_sub(age.max(0)));
            *n += self
                .purge_chunks(
                    &format!(
                        "DELETE FROM {table} WHERE hash IN (SELECT hash FROM {table} \
                         WHERE hash < $2 AND expires_at < $1 LIMIT {PURGE_CHUNK})"
                    ),
                    before,
                    Some(&bound),
                )
                .await?;
            *n += self
                .purge_chunks(
                    &format!(
                        "DELETE FROM {table} WHERE hash IN (SELECT hash FROM {table} \
                         WHERE length(hash) = 43 AND expires_at < $1 LIMIT {PURGE_CHUNK})"
                    ),
                    before,
                    None,
                )
                .await?;
        }
        for (table, key, n) in [
            ("sessions", "id_hash", &mut counts.sessions),
            ("pending_requests", "id", &mut counts.pending_requests),
        ] {
            *n += self
                .purge_chunks(
                    &format!(
                        "DELETE FROM {table} WHERE {key} IN \
                         (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT {PURGE_CHUNK})"
                    ),
                    now,
                    None,
                )
                .await?;
        }
        for (table, key) in [
            ("bridge_requests", "id"),
            ("upstream_requests", "state_hash"),
            ("selector_choices", "key_hash"),
        ] {
            counts.federation += self
                .purge_chunks(
                    &format!(
                        "DELETE FROM {table} WHERE {key} IN \
                         (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT {PURGE_CHUNK})"
                    ),
                    now,
                    None,
                )
                .await?;
        }
        // A grant's code expires at most `code` seconds after the grant was made and was deleted above once
        // CODE_REPLAY_WINDOW more had passed: grants at least that old have no code left.
        let grant_min_age = ages
            .grant
            .max(CODE_REPLAY_WINDOW.saturating_add(ages.code.max(0)));
        let created_before = now.saturating_sub(grant_min_age);
        // (The access token kept on a grant keeps it too, until it expires; `now` is a plain integer.)
        let orphan = format!(
            "NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id) \
             AND (g.access_expires_at IS NULL OR g.access_expires_at < {now})"
        );
        counts.grants += self
            .purge_chunks(
                &format!(
                    "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE g.id < $2 \
                     AND g.created_at < $1 AND {orphan} LIMIT {PURGE_CHUNK})"
                ),
                created_before,
                Some(&key_bound(created_before)),
            )
            .await?;
        counts.grants += self
            .purge_chunks(
                &format!(
                    "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE length(g.id) <> 34 \
                     AND g.created_at < $1 AND {orphan} LIMIT {PURGE_CHUNK})"
                ),
                created_before,
                None,
            )
            .await?;
        Ok(counts)
    }

    /// Runs a chunked `DELETE` (parameters: a time, and a key bound when given) until it deletes less than a
    /// chunk; each chunk is its own short write.
    async fn purge_chunks(&self, sql: &str, before: i64, bound: Option<&str>) -> Result<u64> {
        let mut total = 0;
        loop {
            let _w = self.write().await;
            let q = sqlx::query(sql).bind(before);
            let q = match bound {
                Some(b) => q.bind(b),
                None => q,
            };
            let d = q.execute(&self.pool).await?.rows_affected();
            total += d;
            if d < PURGE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }
}

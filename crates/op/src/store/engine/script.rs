//! The engine's SQL: the parts a batch script is made of, each a fixed statement text with JSON array
//! parameters, and the script for a set of parts (built once per set, so each text is prepared once).
//!
//! Builds text only: must not bind or run it (`batch.rs` does).

use crate::store::columns::{GRANT_COLUMNS, JOINED_USER_COLUMNS};
use crate::store::{Result, StoreError};

/// What the engine does with a row of its script: every row names its statement in a `part` column.
pub(super) const PART_FRESH: &str = "fresh";
pub(super) const PART_PRESENTED: &str = "presented";
pub(super) const PART_SESSION: &str = "session";
pub(super) const PART_CONSENT: &str = "consent";
pub(super) const PART_ACCESS: &str = "access";
pub(super) const PART_REDEEMED: &str = "redeemed";
pub(super) const PART_USER: &str = "user";
pub(super) const PART_GRANT_ACCESS: &str = "grant_access";

/// The parts an engine script is made of, as bits of a mask: a batch's script holds only the parts its
/// operations need (an empty statement still opens its cursors, and a batch runs a few hundred microseconds
/// apart from the next). In script order, each with its JSON array parameters:
/// - [`P_REDEEM`]: redeemed sealed codes. Their tokens (twice; rows of grant id, access key, scope, access
///   expiry, cnf, refresh key, refresh expiry), their grants (rows in the grants' column order), their
///   users' ids.
/// - [`P_GRANTS`], [`P_CODES`], [`P_ACCESS`], [`P_REFRESH`]: rows to insert, each an array in column order.
/// - [`P_CODE_TOKENS`]: the tokens to store with consumed codes (twice; rows of code key, access key, access
///   expiry, cnf, refresh key, refresh expiry). Always with [`P_CONSUME`].
/// - [`P_CONSUME`]: the presented codes' keys (twice: the `UPDATE` that consumes them and the read of their
///   grants and users).
/// - [`P_SESSIONS`]: sessions (with their users) and their users' consents, by id hash (twice).
/// - [`P_ACCESS_READ`]: access tokens of unrevoked grants (with the grants' users), by stored key.
/// - [`P_GRANT_ACCESS`]: unrevoked grants holding an access token ([`TokenKey::grant`]), with their users.
///
/// The tokens of a consumed code are inserted just before the `UPDATE` that consumes it, on the same
/// condition (`used = 0`, in the same write transaction): exactly the codes this batch marks used get them,
/// and only if their grant exists and is not revoked. Likewise the tokens of a redeemed sealed code go in just
/// before its grant, on the condition that makes the grant's insert succeed (no grant with its id yet): a
/// replay stores nothing. Each grant id is in a batch at most once (see [`apply_batch`]).
///
/// [`TokenKey::grant`]: crate::store::TokenKey::grant
/// [`apply_batch`]: super::batch::apply_batch
pub(super) const P_REDEEM: u16 = 1;
/// See [`P_REDEEM`].
pub(super) const P_GRANTS: u16 = 1 << 1;
/// See [`P_REDEEM`].
pub(super) const P_CODES: u16 = 1 << 2;
/// See [`P_REDEEM`].
pub(super) const P_ACCESS: u16 = 1 << 3;
/// See [`P_REDEEM`].
pub(super) const P_REFRESH: u16 = 1 << 4;
/// See [`P_REDEEM`].
pub(super) const P_CODE_TOKENS: u16 = 1 << 5;
/// See [`P_REDEEM`].
pub(super) const P_CONSUME: u16 = 1 << 6;
/// See [`P_REDEEM`].
pub(super) const P_SESSIONS: u16 = 1 << 7;
/// See [`P_REDEEM`].
pub(super) const P_ACCESS_READ: u16 = 1 << 8;
/// See [`P_REDEEM`].
pub(super) const P_GRANT_ACCESS: u16 = 1 << 9;
/// The parts that write: a script with any of them runs in a write transaction.
pub(super) const P_WRITES: u16 =
    P_REDEEM | P_GRANTS | P_CODES | P_ACCESS | P_REFRESH | P_CODE_TOKENS | P_CONSUME;
pub(super) const P_ALL: usize = 1 << 10;

/// Every part's statements, in script order.
pub(super) fn script_parts() -> &'static [(u16, String)] {
    static PARTS: std::sync::OnceLock<Vec<(u16, String)>> = std::sync::OnceLock::new();
    PARTS.get_or_init(|| {
        vec![
            (
                P_REDEEM,
                // Each row is read from a materialized copy of the array (`t.r`): `json_each`'s `value` of an
                // array element is rendered anew as text for every `->>` that names it.
                format!(
                    "WITH t(r) AS MATERIALIZED (SELECT value FROM json_each(?)) \
                     INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) \
                     SELECT r->>1, r->>0, r->>2, r->>3, r->>4 FROM t \
                     WHERE r->>7 = 0 AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = r->>0);
                     WITH t(r) AS MATERIALIZED (SELECT value FROM json_each(?)) \
                     INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) \
                     SELECT r->>5, r->>0, r->>2, r->>6, 0 FROM t \
                     WHERE r->>5 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = r->>0);
                     WITH t(r) AS MATERIALIZED (SELECT value FROM json_each(?)) \
                     INSERT INTO grants (id, client_id, user_id, scope, claims, auth_time, nonce, sid, cnf, revoked, \
                     created_at, access_hash, access_expires_at, access_cnf, authn) SELECT r->>0, r->>1, r->>2, \
                     r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, 0, r->>9, r->>10, \
                     r->>11, r->>12, r->>13 FROM t WHERE true ON CONFLICT (id) DO NOTHING \
                     RETURNING '{PART_REDEEMED}' AS part, id;
                     SELECT '{PART_USER}' AS part, {JOINED_USER_COLUMNS} FROM users u \
                     WHERE u.id IN (SELECT value FROM json_each(?));"
                ),
            ),
            (
                P_GRANTS,
                "INSERT INTO grants (id, client_id, user_id, scope, claims, auth_time, nonce, sid, cnf, revoked, \
                 created_at, authn) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, \
                 value->>6, value->>7, value->>8, 0, value->>9, value->>10 FROM json_each(?);"
                    .into(),
            ),
            (
                P_CODES,
                "INSERT INTO codes (hash, grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, \
                 expires_at, used) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, \
                 value->>6, 0 FROM json_each(?);"
                    .into(),
            ),
            (
                P_ACCESS,
                "INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) \
                 SELECT value->>0, value->>1, value->>2, value->>3, value->>4 FROM json_each(?);"
                    .into(),
            ),
            (
                P_REFRESH,
                "INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) \
                 SELECT value->>0, value->>1, value->>2, value->>3, 0 FROM json_each(?);"
                    .into(),
            ),
            (
                P_CODE_TOKENS,
                "INSERT INTO access_tokens (hash, grant_id, scope, expires_at, cnf) \
                 SELECT t.value->>1, c.grant_id, g.scope, t.value->>2, t.value->>3 FROM json_each(?) t \
                 CROSS JOIN codes c ON c.hash = t.value->>0 CROSS JOIN grants g ON g.id = c.grant_id \
                 WHERE c.used = 0 AND g.revoked = 0;
                 INSERT INTO refresh_tokens (hash, grant_id, scope, expires_at, used) \
                 SELECT t.value->>4, c.grant_id, g.scope, t.value->>5, 0 FROM json_each(?) t \
                 CROSS JOIN codes c ON c.hash = t.value->>0 CROSS JOIN grants g ON g.id = c.grant_id \
                 WHERE t.value->>4 IS NOT NULL AND c.used = 0 AND g.revoked = 0;"
                    .into(),
            ),
            (
                P_CONSUME,
                format!(
                    "UPDATE codes SET used = 1 WHERE used = 0 AND hash IN (SELECT value FROM json_each(?)) \
                     RETURNING '{PART_FRESH}' AS part, hash, grant_id, client_id, redirect_uri, code_challenge, \
                     code_challenge_method, expires_at;
                     SELECT '{PART_PRESENTED}' AS part, c.hash AS code_hash, c.grant_id AS code_grant, \
                     {GRANT_COLUMNS}, {JOINED_USER_COLUMNS} FROM codes c LEFT JOIN grants g ON g.id = c.grant_id \
                     LEFT JOIN users u ON u.id = g.user_id WHERE c.hash IN (SELECT value FROM json_each(?));"
                ),
            ),
            (
                P_SESSIONS,
                format!(
                    "SELECT '{PART_SESSION}' AS part, s.id_hash, s.sid, s.user_id, s.auth_time, s.expires_at, s.authn, \
                     {JOINED_USER_COLUMNS} FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
                     WHERE s.id_hash IN (SELECT value FROM json_each(?));
                     SELECT '{PART_CONSENT}' AS part, user_id, client_id, scope, claims FROM consents WHERE user_id IN \
                     (SELECT user_id FROM sessions WHERE id_hash IN (SELECT value FROM json_each(?)));"
                ),
            ),
            (
                P_ACCESS_READ,
                format!(
                    "SELECT '{PART_ACCESS}' AS part, {GRANT_COLUMNS}, a.hash AS token_hash, a.scope AS token_scope, \
                     a.expires_at AS token_exp, a.cnf AS token_cnf, {JOINED_USER_COLUMNS} \
                     FROM access_tokens a JOIN grants g ON g.id = a.grant_id LEFT JOIN users u ON u.id = g.user_id \
                     WHERE a.hash IN (SELECT value FROM json_each(?)) AND g.revoked = 0;"
                ),
            ),
            (
                P_GRANT_ACCESS,
                format!(
                    "SELECT '{PART_GRANT_ACCESS}' AS part, {GRANT_COLUMNS}, g.access_hash AS token_hash, \
                     g.scope AS token_scope, g.access_expires_at AS token_exp, g.access_cnf AS token_cnf, \
                     {JOINED_USER_COLUMNS} FROM grants g LEFT JOIN users u ON u.id = g.user_id \
                     WHERE g.id IN (SELECT value FROM json_each(?)) AND g.revoked = 0 \
                     AND g.access_hash IS NOT NULL;"
                ),
            ),
        ]
    })
}

/// The engine's script for the parts in `mask` (see [`P_REDEEM`]): one transaction, a write transaction
/// (`BEGIN IMMEDIATE`) if any part writes, else a read transaction (no write lock). Built once per mask, so
/// each text is prepared once per connection, and a whole batch is one round trip to the SQLite worker thread.
pub(super) fn script(mask: u16) -> &'static str {
    static SCRIPTS: [std::sync::OnceLock<String>; P_ALL] =
        [const { std::sync::OnceLock::new() }; P_ALL];
    SCRIPTS[usize::from(mask) % P_ALL].get_or_init(|| {
        let mut s = String::from(if mask & P_WRITES != 0 {
            "BEGIN IMMEDIATE;\n"
        } else {
            "BEGIN;\n"
        });
        for (bit, sql) in script_parts() {
            if mask & bit != 0 {
                s.push_str(sql);
                s.push('\n');
            }
        }
        s.push_str("COMMIT;");
        s
    })
}

/// A JSON array of the distinct `keys` (the `IN` lists of the engine's scripts).
pub(super) fn key_list(mut keys: Vec<&str>) -> Result<String> {
    keys.sort_unstable();
    keys.dedup();
    json_rows(&keys)
}

pub(super) fn json_rows<T: serde::Serialize>(rows: &[T]) -> Result<String> {
    serde_json::to_string(rows)
        .map_err(|e| StoreError::Corrupt(format!("engine batch encoding: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_key_lists_are_sorted_distinct_json_arrays() {
        assert_eq!(key_list(vec!["b", "a", "b"]).unwrap(), r#"["a","b"]"#);
        assert_eq!(key_list(vec![]).unwrap(), "[]");
        // Quotes and control characters are escaped by JSON, not spliced into SQL.
        assert_eq!(key_list(vec!["x\"'); --"]).unwrap(), r#"["x\"'); --"]"#);
    }

    #[test]
    fn engine_scripts_name_every_row() {
        // Parameters per part, in the order apply_batch binds them.
        let params = [
            (P_REDEEM, 4),
            (P_GRANTS, 1),
            (P_CODES, 1),
            (P_ACCESS, 1),
            (P_REFRESH, 1),
            (P_CODE_TOKENS, 2),
            (P_CONSUME, 2),
            (P_SESSIONS, 2),
            (P_ACCESS_READ, 1),
            (P_GRANT_ACCESS, 1),
        ];
        assert_eq!(params.len(), script_parts().len());
        for (i, ((bit, n), (part, sql))) in params.iter().zip(script_parts()).enumerate() {
            assert_eq!((bit, *n), (part, sql.matches('?').count()), "part {i}");
        }
        for mask in 0..P_ALL as u16 {
            let script = script(mask);
            // Every statement that returns rows labels them with its part.
            for stmt in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                if stmt.starts_with("SELECT") || stmt.contains("RETURNING") {
                    assert!(stmt.contains("AS part"), "{stmt}");
                }
            }
            let expected: usize = params
                .iter()
                .filter(|(b, _)| mask & b != 0)
                .map(|(_, n)| n)
                .sum();
            assert_eq!(script.matches('?').count(), expected, "mask {mask:#x}");
            assert!(script.ends_with("COMMIT;"));
            if mask & P_WRITES != 0 {
                assert!(script.starts_with("BEGIN IMMEDIATE;"), "mask {mask:#x}");
            } else {
                assert!(script.starts_with("BEGIN;"), "mask {mask:#x}");
                assert!(!script.contains("INSERT") && !script.contains("UPDATE"));
            }
        }
        // A code's tokens go in before the UPDATE that consumes it; a sealed code's before its grant.
        let all = script(P_ALL as u16 - 1);
        assert!(all.find("c.used = 0").unwrap() < all.find("UPDATE codes").unwrap());
        assert!(all.find("NOT EXISTS").unwrap() < all.find("ON CONFLICT").unwrap());
    }
}

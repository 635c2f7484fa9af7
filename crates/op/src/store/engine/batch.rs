//! Applying one batch of engine operations: gathering their rows into the script's JSON parameters, running
//! the script, and handing each operation its answer from the rows it returned.
//!
//! Must not build SQL text (`script.rs` does) nor take the write lock (the engine task does).

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;

use super::script::{
    P_ACCESS, P_ACCESS_READ, P_CODE_TOKENS, P_CODES, P_CONSUME, P_GRANT_ACCESS, P_GRANTS, P_REDEEM,
    P_REFRESH, P_SESSIONS, PART_ACCESS, PART_CONSENT, PART_FRESH, PART_GRANT_ACCESS,
    PART_PRESENTED, PART_REDEEMED, PART_SESSION, PART_USER, json_rows, key_list, script,
};
use super::{WriteOp, WriteOut};
use crate::store::columns::{Cols, code_from, grant_from, joined_user};
use crate::store::token_key::grant_token_matches;
use crate::store::{
    AccessTokenRow, CodeGrant, CodeRow, ConsentRow, Consumed, GrantRow, Result, SessionContext,
    SessionRow, StoreError, UserRow,
};

/// Applies a whole batch as one script of the parts it needs ([`script`]): the sealed codes it redeems, the
/// grants, codes, access tokens and refresh tokens it inserts, one `UPDATE … RETURNING` for the codes it
/// consumes and one read of all presented codes' grants and users, then the hot reads. Nobody can present a
/// code before the batch that stores it commits, so consuming after inserting within one batch is not an
/// ordering concern. A code is looked up under both its time-ordered key and the bare hash earlier versions
/// stored.
pub(super) async fn apply_batch(
    conn: &mut SqliteConnection,
    ops: &[WriteOp],
) -> Result<Vec<WriteOut>> {
    let mut grants = Vec::new();
    let mut codes = Vec::new();
    let mut access = Vec::new();
    let mut refresh = Vec::new();
    let mut consume: Vec<&str> = Vec::new();
    let mut consumers = std::collections::HashSet::new();
    let mut code_tokens = Vec::new();
    let mut session_reads: Vec<&str> = Vec::new();
    let mut access_reads: Vec<&str> = Vec::new();
    let mut grant_access_reads: Vec<&str> = Vec::new();
    // Sealed codes: the first redemption of each grant id in the batch goes to the database; any later one
    // is a replay without asking.
    let mut redeemers = std::collections::HashSet::new();
    let mut redeem_tokens = Vec::new();
    let mut redeem_grants = Vec::new();
    let mut redeem_users: Vec<&str> = Vec::new();
    for op in ops {
        match op {
            WriteOp::RedeemCode {
                grant: g,
                tokens: t,
                now,
            } => {
                if !redeemers.insert(g.id.as_str()) {
                    continue;
                }
                redeem_tokens.push((
                    &g.id,
                    &t.access_key,
                    &g.scope,
                    t.access_expires_at,
                    &t.cnf,
                    t.refresh.as_ref().map(|r| r.0.as_str()),
                    t.refresh.as_ref().map(|r| r.1),
                    i64::from(t.access_in_grant),
                ));
                let on_grant = t.access_in_grant.then_some(());
                redeem_grants.push((
                    &g.id,
                    &g.client_id,
                    &g.user_id,
                    &g.scope,
                    &g.claims,
                    g.auth_time,
                    &g.nonce,
                    &g.sid,
                    &g.cnf,
                    *now,
                    on_grant.map(|_| t.access_key.as_str()),
                    on_grant.map(|_| t.access_expires_at),
                    on_grant.and(t.cnf.as_deref()),
                    &g.authn,
                ));
                redeem_users.extend(g.user_id.as_deref());
            }
            WriteOp::Issue {
                grant: g,
                code,
                access: a,
                refresh: r,
                now,
            } => {
                grants.push((
                    &g.id,
                    &g.client_id,
                    &g.user_id,
                    &g.scope,
                    &g.claims,
                    g.auth_time,
                    &g.nonce,
                    &g.sid,
                    &g.cnf,
                    *now,
                    &g.authn,
                ));
                if let Some((h, c)) = code {
                    codes.push((
                        h,
                        &c.grant_id,
                        &c.client_id,
                        &c.redirect_uri,
                        &c.code_challenge,
                        &c.code_challenge_method,
                        c.expires_at,
                    ));
                }
                if let Some(a) = a {
                    access.push((&a.0, &g.id, &a.1, a.2, &a.3));
                }
                if let Some(r) = r {
                    refresh.push((&r.0, &g.id, &r.1, r.2));
                }
            }
            WriteOp::AddTokens {
                grant_id,
                access: a,
                refresh: r,
            } => {
                if let Some(a) = a {
                    access.push((&a.0, grant_id, &a.1, a.2, &a.3));
                }
                if let Some(r) = r {
                    refresh.push((&r.0, grant_id, &r.1, r.2));
                }
            }
            WriteOp::ConsumeCode { key, tokens } => {
                consume.extend(key.candidates());
                // Only the first presentation of a code in the batch can be fresh: only its tokens go in.
                if consumers.insert(key.key.as_str())
                    && let Some(t) = tokens
                {
                    for k in key.candidates() {
                        code_tokens.push((
                            k,
                            &t.access_key,
                            t.access_expires_at,
                            &t.cnf,
                            t.refresh.as_ref().map(|r| r.0.as_str()),
                            t.refresh.as_ref().map(|r| r.1),
                        ));
                    }
                }
            }
            WriteOp::ReadSession { id_hash, .. } => session_reads.push(id_hash.as_str()),
            WriteOp::ReadAccess { key, .. } => match &key.grant {
                Some((grant_id, _)) => grant_access_reads.push(grant_id.as_str()),
                None => access_reads.extend(key.candidates()),
            },
        }
    }
    let mut mask = 0;
    for (bit, present) in [
        (P_REDEEM, !redeem_grants.is_empty()),
        (P_GRANTS, !grants.is_empty()),
        (P_CODES, !codes.is_empty()),
        (P_ACCESS, !access.is_empty()),
        (P_REFRESH, !refresh.is_empty()),
        (P_CODE_TOKENS, !code_tokens.is_empty()),
        (P_CONSUME, !consume.is_empty()),
        (P_SESSIONS, !session_reads.is_empty()),
        (P_ACCESS_READ, !access_reads.is_empty()),
        (P_GRANT_ACCESS, !grant_access_reads.is_empty()),
    ] {
        if present {
            mask |= bit;
        }
    }
    let mut q = sqlx::query(script(mask));
    if mask & P_REDEEM != 0 {
        let redeem_tokens_json = json_rows(&redeem_tokens)?;
        q = q
            .bind(redeem_tokens_json.clone())
            .bind(redeem_tokens_json)
            .bind(json_rows(&redeem_grants)?)
            .bind(key_list(redeem_users)?);
    }
    if mask & P_GRANTS != 0 {
        q = q.bind(json_rows(&grants)?);
    }
    if mask & P_CODES != 0 {
        q = q.bind(json_rows(&codes)?);
    }
    if mask & P_ACCESS != 0 {
        q = q.bind(json_rows(&access)?);
    }
    if mask & P_REFRESH != 0 {
        q = q.bind(json_rows(&refresh)?);
    }
    if mask & P_CODE_TOKENS != 0 {
        let code_tokens_json = json_rows(&code_tokens)?;
        q = q.bind(code_tokens_json.clone()).bind(code_tokens_json);
    }
    if mask & P_CONSUME != 0 {
        let consume_json = key_list(consume)?;
        q = q.bind(consume_json.clone()).bind(consume_json);
    }
    if mask & P_SESSIONS != 0 {
        let sessions_json = key_list(session_reads)?;
        q = q.bind(sessions_json.clone()).bind(sessions_json);
    }
    if mask & P_ACCESS_READ != 0 {
        q = q.bind(key_list(access_reads)?);
    }
    if mask & P_GRANT_ACCESS != 0 {
        q = q.bind(key_list(grant_access_reads)?);
    }

    // Codes: those this batch marked used (fresh), and every presented code that exists with its grant and
    // user (the rest of them are replays).
    let mut fresh: std::collections::HashMap<String, CodeRow> = std::collections::HashMap::new();
    let mut presented: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut found: std::collections::HashMap<String, (GrantRow, Option<UserRow>)> =
        std::collections::HashMap::new();
    let mut sessions = std::collections::HashMap::new();
    let mut consents = std::collections::HashMap::new();
    let mut tokens_read = std::collections::HashMap::new();
    let mut grant_tokens_read = std::collections::HashMap::new();
    let mut redeemed = std::collections::HashSet::new();
    let mut users = std::collections::HashMap::new();
    {
        use futures_util::TryStreamExt as _;
        let mut rows = sqlx::Executor::fetch_many(&mut *conn, q);
        while let Some(step) = rows.try_next().await? {
            let sqlx::Either::Right(r) = step else {
                continue;
            };
            let part: String = r.try_get("part")?;
            match part.as_str() {
                PART_FRESH => {
                    fresh.insert(r.try_get("hash")?, code_from(&r)?);
                }
                PART_PRESENTED => {
                    presented.insert(r.try_get("code_hash")?, r.try_get("code_grant")?);
                    if r.opt_text("id")?.is_some() {
                        let g = grant_from(&r)?;
                        found.insert(g.id.clone(), (g, joined_user(&r)?));
                    }
                }
                PART_SESSION => {
                    let s = SessionRow {
                        sid: r.try_get("sid")?,
                        user_id: r.try_get("user_id")?,
                        auth_time: r.try_get("auth_time")?,
                        expires_at: r.try_get("expires_at")?,
                        authn: r.try_get("authn")?,
                    };
                    let id_hash: String = r.try_get("id_hash")?;
                    sessions.insert(id_hash, (s, joined_user(&r)?));
                }
                PART_REDEEMED => {
                    redeemed.insert(r.try_get::<String, _>("id")?);
                }
                PART_USER => {
                    if let Some(u) = joined_user(&r)? {
                        users.insert(u.id.clone(), u);
                    }
                }
                PART_CONSENT => {
                    consents.insert(
                        (r.try_get("user_id")?, r.try_get("client_id")?),
                        ConsentRow {
                            scope: r.try_get("scope")?,
                            claims: r.try_get("claims")?,
                        },
                    );
                }
                PART_GRANT_ACCESS => {
                    grant_tokens_read.insert(
                        r.try_get::<String, _>("id")?,
                        (
                            r.try_get::<String, _>("token_hash")?,
                            AccessTokenRow {
                                grant: grant_from(&r)?,
                                scope: r.try_get("token_scope")?,
                                expires_at: r.try_get("token_exp")?,
                                cnf: r.try_get("token_cnf")?,
                                user: joined_user(&r)?,
                            },
                        ),
                    );
                }
                PART_ACCESS => {
                    tokens_read.insert(
                        r.try_get::<String, _>("token_hash")?,
                        AccessTokenRow {
                            grant: grant_from(&r)?,
                            scope: r.try_get("token_scope")?,
                            expires_at: r.try_get("token_exp")?,
                            cnf: r.try_get("token_cnf")?,
                            user: joined_user(&r)?,
                        },
                    );
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "engine script returned a row of {other:?}"
                    )));
                }
            }
        }
    }
    // Presented codes that this batch did not mark used were used before: replays.
    let mut replayed: std::collections::HashMap<String, String> = presented
        .into_iter()
        .filter(|(h, _)| !fresh.contains_key(h))
        .collect();

    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        out.push(match op {
            WriteOp::Issue { .. } | WriteOp::AddTokens { .. } => WriteOut::Unit,
            // `remove`: a second redemption of the same grant id in this batch is a replay.
            WriteOp::RedeemCode { grant, .. } => {
                WriteOut::Redeemed(if redeemed.remove(&grant.id) {
                    Consumed::Fresh(grant.user_id.as_deref().and_then(|u| users.get(u)).cloned())
                } else {
                    Consumed::Replayed(grant.id.clone())
                })
            }
            WriteOp::ReadSession {
                id_hash,
                client_id,
                now,
            } => WriteOut::Session(
                sessions
                    .get(id_hash.as_str())
                    .filter(|(s, _)| s.expires_at > *now)
                    .map(|(s, u)| SessionContext {
                        session: s.clone(),
                        user: u.clone(),
                        consent: consents
                            .get(&(s.user_id.clone(), client_id.clone()))
                            .cloned(),
                    }),
            ),
            WriteOp::ReadAccess { key, now } => WriteOut::Access(
                match &key.grant {
                    Some((grant_id, hash)) => grant_tokens_read
                        .get(grant_id)
                        .filter(|(stored, _)| grant_token_matches(stored, hash))
                        .map(|(_, a)| a),
                    None => key.candidates().find_map(|k| tokens_read.get(k)),
                }
                .filter(|a| a.expires_at > *now)
                .cloned(),
            ),
            WriteOp::ConsumeCode { key, tokens } => WriteOut::Code(
                match fresh
                    .remove(&key.key)
                    .map(|c| (&key.key, c))
                    .or_else(|| fresh.remove(&key.legacy).map(|c| (&key.legacy, c)))
                {
                    // The first presentation in the batch wins; a second one of the same code is a replay.
                    Some((hash, code)) => {
                        replayed.insert(hash.clone(), code.grant_id.clone());
                        let (grant, user) = match found.get(&code.grant_id) {
                            Some((g, u)) => (Some(g.clone()), u.clone()),
                            None => (None, None),
                        };
                        // The script stored this op's tokens on the same conditions.
                        let tokens_stored =
                            tokens.is_some() && grant.as_ref().is_some_and(|g| !g.revoked);
                        Consumed::Fresh(CodeGrant {
                            code,
                            grant,
                            user,
                            tokens_stored,
                        })
                    }
                    None => match replayed.get(&key.key).or_else(|| replayed.get(&key.legacy)) {
                        Some(g) => Consumed::Replayed(g.clone()),
                        None => Consumed::Unknown,
                    },
                },
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::store::{CodeTokens, Store, TokenKey, sqlite_url};

    /// Two presentations of one code in one engine batch, each with tokens to store: the first is fresh and
    /// only its tokens go in; the second is a replay and stores nothing. Driven through [`apply_batch`] itself,
    /// so both are in one batch whatever the timing.
    #[tokio::test]
    async fn one_batch_stores_only_the_first_presentations_tokens() {
        use sqlx::ConnectOptions as _;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&sqlite_url(&dir)).await.unwrap();
        let now = 1_000;
        let grant = GrantRow {
            id: crate::time_ordered_id(),
            client_id: "c".into(),
            user_id: None,
            scope: "openid".into(),
            claims: None,
            auth_time: None,
            nonce: None,
            sid: None,
            cnf: None,
            revoked: false,
            authn: None,
        };
        let code = CodeRow {
            grant_id: grant.id.clone(),
            client_id: "c".into(),
            redirect_uri: None,
            code_challenge: None,
            code_challenge_method: None,
            expires_at: now + 60,
        };
        let kc = TokenKey::of(&crate::new_token());
        store
            .issue(&grant, Some((&kc.key, &code)), None, None, now)
            .await
            .unwrap();
        let tokens = || {
            let (ka, kr) = (
                TokenKey::of(&crate::new_token()),
                TokenKey::of(&crate::new_token()),
            );
            let t = CodeTokens {
                access_key: ka.key.clone(),
                access_expires_at: now + 600,
                cnf: None,
                refresh: Some((kr.key.clone(), now + 600)),
                access_in_grant: false,
            };
            (t, ka, kr)
        };
        let ((t1, ka1, kr1), (t2, ka2, kr2)) = (tokens(), tokens());
        let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&sqlite_url(&dir))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let ops = [
            WriteOp::ConsumeCode {
                key: kc.clone(),
                tokens: Some(t1),
            },
            WriteOp::ConsumeCode {
                key: kc.clone(),
                tokens: Some(t2),
            },
        ];
        let out = apply_batch(&mut conn, &ops).await.unwrap();
        assert!(matches!(
            &out[0],
            WriteOut::Code(Consumed::Fresh(CodeGrant {
                tokens_stored: true,
                ..
            }))
        ));
        assert!(matches!(&out[1], WriteOut::Code(Consumed::Replayed(g)) if *g == grant.id));
        assert!(store.access_token(&ka1, now).await.unwrap().is_some());
        assert!(
            store
                .refresh_token_grant(&kr1, now)
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.access_token(&ka2, now).await.unwrap().is_none());
        assert!(
            store
                .refresh_token_grant(&kr2, now)
                .await
                .unwrap()
                .is_none()
        );
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, 1, "one access token for the one fresh presentation");
        drop(conn);
        store.close().await;
    }
}

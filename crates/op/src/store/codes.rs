//! The `codes` table: authorization codes and their single-use redemption. A stored code is consumed; a
//! sealed code is redeemed by storing the grant it carries. Either stores the tokens it hands out in the same
//! transaction.
//!
//! Must not decide whether a code is acceptable (client, redirect URI, PKCE, expiry): the provider does.

use sqlx::AnyConnection;

use super::columns::code_from;
use super::engine::{WriteOp, WriteOut};
use super::grants::{grant_with_user_on, insert_grant, insert_tokens};
use super::users::user_on;
use super::{
    CodeGrant, CodeRow, CodeTokens, Consumed, GrantRow, Result, Store, StoreError, TokenKey,
    UserRow,
};

impl Store {
    /// Consumes a code: marks it used if it was not, atomically, and reads its grant and user.
    pub async fn consume_code(&self, key: &TokenKey) -> Result<Consumed<CodeGrant>> {
        self.consume(key, None).await
    }

    /// [`Store::consume_code`], and in the same transaction stores `tokens` on the code's grant if the code
    /// is fresh and the grant exists and is not revoked ([`CodeGrant::tokens_stored`] says whether they were).
    pub async fn consume_code_and_store(
        &self,
        key: &TokenKey,
        tokens: &CodeTokens,
    ) -> Result<Consumed<CodeGrant>> {
        self.consume(key, Some(tokens)).await
    }

    /// Redeems a sealed code ([`crate::sealing::CodeSealer`]): stores `grant` (the grant the code carries,
    /// under the id sealed in it) and `tokens` on it, in one transaction, unless a grant with that id exists
    /// already — then the code was redeemed before and this is a replay ([`Consumed::Replayed`] with the grant
    /// id; nothing is stored). [`Consumed::Fresh`] carries the grant's user, read in the same round trip; the
    /// tokens were stored. Never [`Consumed::Unknown`]: the sealed code itself proves it was issued.
    ///
    /// As with [`Store::consume_code_and_store`], the caller checks the code afterwards (client, redirect
    /// URI, PKCE, expiry) and revokes the grant if it refuses.
    pub async fn redeem_sealed_code(
        &self,
        grant: &GrantRow,
        tokens: &CodeTokens,
        now: i64,
    ) -> Result<Consumed<Option<UserRow>>> {
        if let Some(w) = &self.writer {
            let op = WriteOp::RedeemCode {
                grant: Box::new(grant.clone()),
                tokens: tokens.clone(),
                now,
            };
            return match w.submit(op).await? {
                WriteOut::Redeemed(c) => Ok(c),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let on_grant = tokens.access_in_grant.then_some((
            tokens.access_key.as_str(),
            tokens.access_expires_at,
            tokens.cnf.as_deref(),
        ));
        let inserted = insert_grant(&mut tx, grant, now, on_grant, true).await?;
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Consumed::Replayed(grant.id.clone()));
        }
        insert_tokens(
            &mut tx,
            &grant.id,
            (!tokens.access_in_grant).then_some((
                tokens.access_key.as_str(),
                grant.scope.as_str(),
                tokens.access_expires_at,
                tokens.cnf.as_deref(),
            )),
            tokens
                .refresh
                .as_ref()
                .map(|(k, e)| (k.as_str(), grant.scope.as_str(), *e)),
        )
        .await?;
        let user = match &grant.user_id {
            Some(id) => user_on(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(Consumed::Fresh(user))
    }

    async fn consume(
        &self,
        key: &TokenKey,
        tokens: Option<&CodeTokens>,
    ) -> Result<Consumed<CodeGrant>> {
        if let Some(w) = &self.writer {
            let op = WriteOp::ConsumeCode {
                key: key.clone(),
                tokens: tokens.cloned(),
            };
            return match w.submit(op).await? {
                WriteOut::Code(c) => Ok(c),
                _ => Err(StoreError::Corrupt("engine answered the wrong kind".into())),
            };
        }
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let c = consume_code_on(&mut tx, key).await?;
        let out = match c {
            Consumed::Fresh(code) => {
                let (grant, user) = match grant_with_user_on(&mut tx, &code.grant_id).await? {
                    Some((g, u)) => (Some(g), u),
                    None => (None, None),
                };
                let mut tokens_stored = false;
                if let (Some(t), Some(g)) = (tokens, grant.as_ref().filter(|g| !g.revoked)) {
                    insert_tokens(
                        &mut tx,
                        &g.id,
                        Some((
                            &t.access_key,
                            &g.scope,
                            t.access_expires_at,
                            t.cnf.as_deref(),
                        )),
                        t.refresh
                            .as_ref()
                            .map(|(k, e)| (k.as_str(), g.scope.as_str(), *e)),
                    )
                    .await?;
                    tokens_stored = true;
                }
                Consumed::Fresh(CodeGrant {
                    code,
                    grant,
                    user,
                    tokens_stored,
                })
            }
            Consumed::Replayed(g) => Consumed::Replayed(g),
            Consumed::Unknown => Consumed::Unknown,
        };
        tx.commit().await?;
        Ok(out)
    }
}

async fn consume_code_on(conn: &mut AnyConnection, key: &TokenKey) -> Result<Consumed<CodeRow>> {
    for k in key.candidates() {
        // One statement on the fast path: mark used and read the row.
        let row = sqlx::query(
            "UPDATE codes SET used = 1 WHERE hash = $1 AND used = 0 \
             RETURNING grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, expires_at",
        )
        .bind(k)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = row {
            return Ok(Consumed::Fresh(code_from(&r)?));
        }
        let used: Option<String> = sqlx::query_scalar("SELECT grant_id FROM codes WHERE hash = $1")
            .bind(k)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(grant_id) = used {
            return Ok(Consumed::Replayed(grant_id));
        }
    }
    Ok(Consumed::Unknown)
}

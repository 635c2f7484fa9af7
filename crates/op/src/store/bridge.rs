//! The login bridge's tables: `bridge_sites` (the authenticating websites), `bridge_accounts` (which local account
//! a site's user is) and `bridge_requests` (a request sent out to a site: sent, then posted back, then done once
//! the browser returns; or failed).
//!
//! Must not hold queries of other tables, or move a request backwards (every state change is one conditional
//! update).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store};

/// An authenticating website.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeSiteRow {
    /// Its id (the `idp_id`; `a-z`, `0-9`, `-`, `_`).
    pub id: String,
    /// The name users see ("Continue with ...").
    pub name: String,
    /// Where the browser is sent to sign in.
    pub verify_url: String,
    /// Its home page, when given.
    pub home_url: Option<String>,
    /// The SHA-256 of its API key (base64url).
    pub api_key_hash: String,
    /// Whether its `no_prompt` is honoured (the consent page skipped).
    pub trusted: bool,
    /// Its public signing key (a JWK, JSON), when its postbacks must be signed.
    pub signing_key: Option<String>,
    /// The claims it may release, space-separated; empty: the standard claims (OIDC Core §5.1).
    pub claims: String,
    /// Whether its `email_verified` and `phone_number_verified` are believed (else they are dropped).
    pub trust_verified: bool,
}

/// A request sent out to a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRequestRow {
    /// The request id the site sees.
    pub id: String,
    /// The site it was sent to.
    pub site_id: String,
    /// The pending authorization request it answers.
    pub pending_id: String,
    /// The hash of the browser binding it was sent out from.
    pub browser: String,
    /// `sent`, `posted`, `done` or `failed`.
    pub state: String,
    /// The accepted postback ([`portcullis_oidc::Postback::canonical`]), once posted.
    pub answer: Option<String>,
    /// The SHA-256 of the one-time code the accepted postback was answered with (the browser brings it back).
    pub return_hash: Option<String>,
    /// When it expires (seconds).
    pub expires_at: i64,
}

/// What became of a postback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Recorded.
    Accepted,
    /// The same answer was recorded before (a retry): nothing changes.
    Repeated,
    /// Another answer was recorded before: the request is failed, and neither answer can be used.
    Conflict,
    /// No such request.
    Unknown,
    /// It expired.
    Expired,
    /// It was completed or failed already.
    Finished,
}

fn site_from(r: &AnyRow) -> Result<BridgeSiteRow> {
    Ok(BridgeSiteRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        verify_url: r.try_get("verify_url")?,
        home_url: r.try_get("home_url")?,
        api_key_hash: r.try_get("api_key_hash")?,
        trusted: r.try_get::<i64, _>("trusted")? != 0,
        signing_key: r.try_get("signing_key")?,
        claims: r.try_get("claims")?,
        trust_verified: r.try_get::<i64, _>("trust_verified")? != 0,
    })
}

const SITE_COLUMNS: &str =
    "id, name, verify_url, home_url, api_key_hash, trusted, signing_key, claims, trust_verified";

impl Store {
    /// Adds a site, or replaces the one with its id (its requests in flight are dropped, its accounts kept).
    pub async fn put_bridge_site(&self, s: &BridgeSiteRow, now: i64) -> Result<()> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO bridge_sites (id, name, verify_url, home_url, api_key_hash, trusted, signing_key, \
             claims, trust_verified, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, verify_url = excluded.verify_url, \
             home_url = excluded.home_url, api_key_hash = excluded.api_key_hash, trusted = excluded.trusted, \
             signing_key = excluded.signing_key, claims = excluded.claims, \
             trust_verified = excluded.trust_verified",
        )
        .bind(&s.id)
        .bind(&s.name)
        .bind(&s.verify_url)
        .bind(&s.home_url)
        .bind(&s.api_key_hash)
        .bind(i64::from(s.trusted))
        .bind(&s.signing_key)
        .bind(&s.claims)
        .bind(i64::from(s.trust_verified))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM bridge_requests WHERE site_id = $1 AND state IN ('sent', 'posted')",
        )
        .bind(&s.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A site by id.
    pub async fn bridge_site(&self, id: &str) -> Result<Option<BridgeSiteRow>> {
        sqlx::query(&format!(
            "SELECT {SITE_COLUMNS} FROM bridge_sites WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(site_from)
        .transpose()
    }

    /// The site whose API key hashes to `key_hash`.
    pub async fn bridge_site_by_key(&self, key_hash: &str) -> Result<Option<BridgeSiteRow>> {
        sqlx::query(&format!(
            "SELECT {SITE_COLUMNS} FROM bridge_sites WHERE api_key_hash = $1"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(site_from)
        .transpose()
    }

    /// Every site, by name.
    pub async fn bridge_sites(&self) -> Result<Vec<BridgeSiteRow>> {
        sqlx::query(&format!(
            "SELECT {SITE_COLUMNS} FROM bridge_sites ORDER BY name, id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(site_from)
        .collect()
    }

    /// Removes a site, its requests and its account links (the local accounts stay); false when there is none.
    pub async fn remove_bridge_site(&self, id: &str) -> Result<bool> {
        let _w = self.write().await;
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM bridge_sites WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for table in ["bridge_requests", "bridge_accounts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE site_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Stores a request sent out to a site.
    pub async fn put_bridge_request(&self, r: &BridgeRequestRow) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "INSERT INTO bridge_requests (id, site_id, pending_id, browser, state, answer, return_hash, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(&r.site_id)
        .bind(&r.pending_id)
        .bind(&r.browser)
        .bind(&r.state)
        .bind(&r.answer)
        .bind(&r.return_hash)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A request by id, in whatever state (expired ones too, until purged).
    pub async fn bridge_request(&self, id: &str) -> Result<Option<BridgeRequestRow>> {
        let r = sqlx::query(
            "SELECT id, site_id, pending_id, browser, state, answer, return_hash, expires_at FROM bridge_requests \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(BridgeRequestRow {
                id: r.try_get("id")?,
                site_id: r.try_get("site_id")?,
                pending_id: r.try_get("pending_id")?,
                browser: r.try_get("browser")?,
                state: r.try_get("state")?,
                answer: r.try_get("answer")?,
                return_hash: r.try_get("return_hash")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Records a site's answer to request `id` once, with the hash of the one-time code the site is answered with
    /// (`return_hash`): a second post of the same answer is a harmless retry (answered with a new code, which
    /// replaces the first: only the last one the site saw works), of another answer a conflict that fails the
    /// request.
    pub async fn post_bridge_answer(
        &self,
        id: &str,
        answer: &str,
        return_hash: &str,
        now: i64,
    ) -> Result<Posted> {
        let n = {
            let _w = self.write().await;
            sqlx::query(
                "UPDATE bridge_requests SET state = 'posted', answer = $2, return_hash = $4 \
                 WHERE id = $1 AND state = 'sent' AND expires_at > $3",
            )
            .bind(id)
            .bind(answer)
            .bind(now)
            .bind(return_hash)
            .execute(&self.pool)
            .await?
            .rows_affected()
        };
        if n == 1 {
            return Ok(Posted::Accepted);
        }
        let Some(r) = self.bridge_request(id).await? else {
            return Ok(Posted::Unknown);
        };
        Ok(match r.state.as_str() {
            _ if r.expires_at <= now => Posted::Expired,
            "posted" if r.answer.as_deref() == Some(answer) => {
                let _w = self.write().await;
                sqlx::query(
                    "UPDATE bridge_requests SET return_hash = $2 WHERE id = $1 AND state = 'posted'",
                )
                .bind(id)
                .bind(return_hash)
                .execute(&self.pool)
                .await?;
                Posted::Repeated
            }
            "posted" => {
                self.fail_bridge_request(id).await?;
                Posted::Conflict
            }
            _ => Posted::Finished,
        })
    }

    /// Completes a posted, unexpired request once: true for the one caller that did.
    pub async fn finish_bridge_request(&self, id: &str, now: i64) -> Result<bool> {
        let _w = self.write().await;
        Ok(sqlx::query(
            "UPDATE bridge_requests SET state = 'done' WHERE id = $1 AND state = 'posted' AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Fails a request that is not done: neither its postback nor its return can be used any more.
    pub async fn fail_bridge_request(&self, id: &str) -> Result<()> {
        let _w = self.write().await;
        sqlx::query(
            "UPDATE bridge_requests SET state = 'failed' WHERE id = $1 AND state <> 'done'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The local account of a site's user, if linked.
    pub async fn bridge_account(&self, site: &str, external_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT user_id FROM bridge_accounts WHERE site_id = $1 AND external_id = $2",
        )
        .bind(site)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Links a site's user to a local account, unless linked already; the account it is linked to.
    pub async fn link_bridge_account(
        &self,
        site: &str,
        external_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<String> {
        {
            let _w = self.write().await;
            sqlx::query(
                "INSERT INTO bridge_accounts (site_id, external_id, user_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(site)
            .bind(external_id)
            .bind(user_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(self
            .bridge_account(site, external_id)
            .await?
            .unwrap_or_else(|| user_id.to_owned()))
    }
}

//! The login bridge (seed 004): a website with its own users and login page (an "authenticating website")
//! vouches for its users, and the provider issues OpenID Connect identities for them.
//!
//! 1. The login page's "Continue with ..." button posts to `/bridge/start` ([`start`]): a bridge request is
//!    stored (bound to the pending authorization request, and so to this browser) and the browser is sent to the
//!    site's verify URL with `request_id`, `client_name`, `claims` (the names the relying party may get and
//!    the site may release), and `prompt=login` (with `max_age`) when the relying party asked for a fresh or
//!    recent sign-in. (The postback and return URLs are the site's configuration, not parameters.)
//! 2. The site signs its user in, in its own way, and its backend posts the answer to `/bridge/postback`
//!    ([`postback`]), authenticated by its API key.
//! 3. The site sends the browser to `/bridge/return?request_id=...&code=...` ([`finish`]): the sign-in completes only in
//!    the browser that was sent out *and* that the site signed in (it brings the one-time `code` the postback
//!    was answered with), only after an accepted postback, once, and before the request expires. The
//!    site's user is the local account linked to (site, identifier), created at the first sign-in; the
//!    released claims are set on it; the session records the `bridge` method (`amr` `fed`). Then consent
//!    (skipped when a trusted site said `no_prompt`) and the response, as after any login.
//!
//! Must not: complete a request in another browser, before its postback, twice or after expiry; or show a
//! page the site's answer could script (every value goes through the templates).

pub mod postback;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::{Params, Prompt};
use serde_json::{Map, Value};

use super::authorize::PENDING_LIFETIME;
use super::authorize::request::{Validated, establish};
use super::login::{Phase, SignedIn, complete};
use crate::authn::AuthRecord;
use crate::authn::bridge::BRIDGE_METHOD;
use crate::http::binding::BrowserBinding;
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, csrf, db, error_page};
use crate::provider::Provider;
use crate::store::{BridgeRequestRow, BridgeSiteRow, PendingRow, UserRow};
use crate::{hash, now, random_token};

/// How long a request sent out to a site may take (the user signing in there), in seconds; never longer than
/// the pending authorization request it answers.
pub const BRIDGE_LIFETIME: i64 = 600;

fn bad(description: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// `POST /bridge/start`: the login page's button for a site.
pub async fn start(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    start_inner(&p, ip, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn start_inner(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let (form, row, v) = super::federation::button_form(p, headers, body).await?;
    if p.methods.get(BRIDGE_METHOD).is_none() {
        return Err(bad("signing in at another site is not offered here"));
    }
    let site = match form.get("site") {
        Some(id) => p.store.bridge_site(id).await.map_err(db)?,
        None => None,
    };
    let Some(site) = site else {
        return Err(bad("no such site"));
    };
    super::federation::spend(p, ip, &row).await?;
    send_out(p, &row, &v, &site).await
}

/// Sends the browser of pending request `row` (of `v`) out to `site`: the bridge request stored, and the
/// redirect to the site's verify URL.
pub(crate) async fn send_out(
    p: &Provider,
    row: &PendingRow,
    v: &Validated,
    site: &BridgeSiteRow,
) -> HttpResult<Response> {
    let t = now();
    let request = BridgeRequestRow {
        id: random_token(),
        site_id: site.id.clone(),
        pending_id: row.id.clone(),
        browser: row.browser.clone(),
        state: "sent".into(),
        answer: None,
        return_hash: None,
        expires_at: row.expires_at.min(t + BRIDGE_LIFETIME),
    };
    p.store.put_bridge_request(&request).await.map_err(db)?;
    let Some(location) = verify_location(p, site, &request.id, v) else {
        return Err(bad("the site's address is not usable"));
    };
    Ok(http::redirect(&location))
}

/// The site's verify URL with the request's parameters added (its own kept).
fn verify_location(p: &Provider, site: &BridgeSiteRow, id: &str, v: &Validated) -> Option<String> {
    let mut url = url::Url::parse(&site.verify_url).ok()?;
    let mut claims = p.scope_claims.claims_for(&v.req.scope);
    claims.extend(
        super::authorize::consent::claims_asked(v)
            .into_iter()
            .map(str::to_owned),
    );
    // Only what the site may release is asked for.
    let allowed = crate::bridge_sites::allowed_claims(site);
    claims.retain(|c| allowed.contains(c));
    // A relying party's max_age is passed on, and asks the site for a fresh sign-in (a site that keeps its own
    // session would otherwise vouch for an old one; one that reports `auth_time` is checked against it).
    let fresh = v.req.prompt.contains(&Prompt::Login) || v.req.max_age.is_some();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("request_id", id)
            .append_pair("client_name", &v.client.name)
            .append_pair("claims", &claims.into_iter().collect::<Vec<_>>().join(" "));
        if fresh {
            q.append_pair("prompt", "login");
        }
        if let Some(max_age) = v.req.max_age {
            q.append_pair("max_age", &max_age.to_string());
        }
    }
    Some(url.to_string())
}

/// `GET /bridge/return?request_id=...&code=...`: the browser back from the site, with the one-time code the
/// site's postback was answered with.
pub async fn finish(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or("")).unwrap_or_default();
    let id = params.get("request_id").unwrap_or("");
    let code = params.get("code").unwrap_or("");
    finish_inner(&p, (id, code, ip), &headers)
        .await
        .unwrap_or_else(|r| r)
}

/// What an accepted postback said, as stored.
struct Answer {
    identifier: String,
    no_prompt: bool,
    auth_time: Option<i64>,
    claims: Map<String, Value>,
}

fn answer_of(r: &BridgeRequestRow) -> Option<Answer> {
    let v: Value = serde_json::from_str(r.answer.as_deref()?).ok()?;
    Some(Answer {
        identifier: v.get("identifier")?.as_str()?.to_owned(),
        no_prompt: v.get("no_prompt")?.as_bool()?,
        auth_time: v
            .get("auth_time")
            .and_then(Value::as_u64)
            .and_then(|t| i64::try_from(t).ok()),
        claims: v.get("claims")?.as_object()?.clone(),
    })
}

async fn finish_inner(
    p: &Provider,
    (id, code, ip): (&str, &str, std::net::IpAddr),
    headers: &HeaderMap,
) -> HttpResult<Response> {
    let t = now();
    let gone = || {
        bad(
            "this sign-in is unknown, expired or already completed; start again from the application",
        )
    };
    let Some(r) = p.store.bridge_request(id).await.map_err(db)? else {
        return Err(gone());
    };
    // The code the site was given for the browser it signed in (constant time).
    let code_ok = !code.is_empty()
        && r.return_hash
            .as_deref()
            .is_some_and(|h| csrf::tokens_match(h, &hash(code)));
    let same_browser = BrowserBinding::existing(headers, p.secure_cookies())
        .is_some_and(|b| b.matches(&r.browser));
    if !same_browser {
        // The site signed in a browser other than the one this request was started in: somebody started it and
        // had it answered in another person's browser. Neither may use it now.
        if code_ok {
            p.store.fail_bridge_request(id).await.map_err(db)?;
        }
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this sign-in was started in another browser; start again from the application",
        ));
    }
    if r.expires_at <= t || r.state != "posted" {
        return Err(if r.state == "sent" && r.expires_at > t {
            bad("the site has not confirmed the sign-in; go back to it and try again")
        } else {
            gone()
        });
    }
    if !code_ok {
        // Not the browser the site sent back (it would have the code): whoever started the request cannot
        // complete it with another person's sign-in.
        p.store.fail_bridge_request(id).await.map_err(db)?;
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "the site did not send this browser back; start again from the application",
        ));
    }
    let (Some(answer), Some(site)) = (
        answer_of(&r),
        p.store.bridge_site(&r.site_id).await.map_err(db)?,
    ) else {
        p.store.fail_bridge_request(id).await.map_err(db)?;
        return Err(gone());
    };
    let pending = p
        .store
        .pending(&r.pending_id, "authorize", t)
        .await
        .map_err(db)?;
    // Used once: whoever completes it first wins.
    if !p.store.finish_bridge_request(id, t).await.map_err(db)? {
        return Err(gone());
    }
    let Some(row) = pending else {
        return Err(gone());
    };
    let params = Params::parse(&row.params).map_err(|_| bad("stored request"))?;
    let v = match establish(p, &params).await? {
        Ok(v) => v,
        Err(_) => return Err(bad("the stored request is no longer valid")),
    };
    // When the site says its user signed in (never later than now); a relying party's max_age holds against it.
    let at = answer.auth_time.map_or(t, |a| a.min(t));
    if let Some(max_age) = v.req.max_age
        && t - at > i64::try_from(max_age).unwrap_or(i64::MAX)
    {
        return Err(bad(
            "the site's sign-in is older than the application allows; sign in at the site again",
        ));
    }
    let user = site_user(p, &site, &answer, t).await?;
    p.metrics.sign_in("bridge", true);
    crate::audit::Audit {
        kind: "sign_in",
        outcome: "success",
        user_id: Some(&user.id),
        client_id: Some(&row.client_id),
        address: Some(ip),
        detail: &format!("bridge:{}", site.id),
    }
    .record(&p.store)
    .await;
    let arrival = row.expires_at - PENDING_LIFETIME;
    complete(
        p,
        (v, row, Phase::Login, AuthRecord::default()),
        SignedIn {
            proven: user,
            recorded_as: BRIDGE_METHOD,
            skip_consent: site.trusted && answer.no_prompt,
            at,
        },
        (t, arrival),
        headers,
    )
    .await
}

/// The local account of the site's user: linked at the first sign-in (a new account, without a password), its
/// claims replaced by what the site released now (the site is their source).
async fn site_user(
    p: &Provider,
    site: &BridgeSiteRow,
    answer: &Answer,
    t: i64,
) -> HttpResult<UserRow> {
    let linked = p
        .store
        .bridge_account(&site.id, &answer.identifier)
        .await
        .map_err(db)?;
    let id = match linked {
        Some(id) => id,
        None => {
            let id = random_token()[..22].to_owned();
            let fresh = UserRow {
                id: id.clone(),
                // Unique, and no local sign-in name: no password matches an empty hash.
                username: format!("~bridge/{}/{id}", site.id),
                password_hash: String::new(),
                claims: "{}".into(),
                consent_withdrawn_at: None,
            };
            if !p.store.add_user(&fresh, t).await.map_err(db)? {
                return Err(http::unavailable());
            }
            p.store
                .link_bridge_account(&site.id, &answer.identifier, &id, t)
                .await
                .map_err(db)?
        }
    };
    let Some(mut user) = p.store.user(&id).await.map_err(db)? else {
        return Err(bad("the account linked to this site's user is gone"));
    };
    // The site is the source of its user's claims: what it released now replaces what it released before (an
    // address it no longer says is verified is not verified any more).
    let text = Value::Object(answer.claims.clone()).to_string();
    if text != user.claims {
        p.store.set_user_claims(&user.id, &text).await.map_err(db)?;
        user.claims = text;
    }
    Ok(user)
}

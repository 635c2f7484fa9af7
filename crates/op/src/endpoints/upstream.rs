//! Brokering: signing in at an upstream OpenID Provider ([`crate::upstream`]).
//!
//! - `POST /upstream/start` ([`start`]): the login page's "Continue with ..." button. The login is begun with
//!   `portcullis-rp` (PKCE, `state`, `nonce`, `response_mode=jwt` when the upstream offers JARM), its state
//!   stored under the hash of `state` and bound to the pending request's browser, and the browser sent there.
//! - `GET /upstream/callback` ([`callback`]): the upstream's answer. The stored login is found by its `state`
//!   (inside the JARM response when there is one; nothing from it is trusted before `portcullis-rp` verified
//!   it), must belong to this browser, and is taken once. Then the upstream subject's local account
//!   ([`super::upstream_link`]: linked before, or new; when somebody is signed in here, they are asked first),
//!   the mapped claims, and the flow goes on as after any login (`amr` `fed`).
//!
//! Every refusal or failure of the upstream is an error page (403 for a refusal, 502 for a failure), never a
//! 500 and never a redirect.
//!
//! Must not: complete a login in another browser, twice, or with anything `portcullis-rp` did not verify.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use portcullis_oidc::{Params, Prompt, ResponseMode};
use portcullis_rp::{AuthOptions, Callback, LoginSession, RpError};
use serde_json::{Map, Value};

use super::authorize::PENDING_LIFETIME;
use super::authorize::request::{Validated, establish};
use super::login::{Phase, SignedIn, complete};
use super::upstream_link::{Account, account, ask};
use crate::authn::AuthRecord;
use crate::http::binding::BrowserBinding;
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, db, error_page};
use crate::pages;
use crate::provider::Provider;
use crate::store::{PendingRow, UpstreamRequestRow};
use crate::upstream::{UPSTREAM_METHOD, Upstream};
use crate::{hash, now};

/// How long a login sent out to an upstream may take, in seconds (never longer than its pending request).
pub const UPSTREAM_LIFETIME: i64 = 600;
/// Largest JARM response read for its `state`, in bytes.
const MAX_RESPONSE: usize = 16 * 1024;

fn bad(description: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// `POST /upstream/start`.
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
    let upstream = form.get("upstream").and_then(|id| p.upstreams.get(id));
    let (Some(upstream), true) = (upstream, p.methods.get(UPSTREAM_METHOD).is_some()) else {
        return Err(bad("no such identity provider"));
    };
    super::federation::spend(p, ip, &row).await?;
    send_out(p, &row, &v, upstream).await
}

/// Sends the browser of pending request `row` (of `v`) out to `upstream`: the login begun and stored, and the
/// redirect to the upstream's authorization endpoint.
pub(crate) async fn send_out(
    p: &Provider,
    row: &PendingRow,
    v: &Validated,
    upstream: &Upstream,
) -> HttpResult<Response> {
    let fresh = v.req.prompt.contains(&Prompt::Login) || v.req.max_age == Some(0);
    let (url, session) = begin(upstream, fresh, v.req.max_age)
        .await
        .map_err(|e| failed(upstream, &e))?;
    let t = now();
    let stored = serde_json::to_string(&session).map_err(|_| http::unavailable())?;
    p.store
        .put_upstream_request(&UpstreamRequestRow {
            state_hash: hash(&session.state),
            upstream_id: upstream.config.id.clone(),
            pending_id: row.id.clone(),
            browser: row.browser.clone(),
            session: stored,
            expires_at: row.expires_at.min(t + UPSTREAM_LIFETIME),
        })
        .await
        .map_err(db)?;
    // The login page allowed the issuer's origin as a form target; an authorization endpoint elsewhere is reached
    // through a page of its own (a refresh and a link), which no form-action binds.
    let origin = |u: &str| url::Url::parse(u).map(|u| u.origin().ascii_serialization());
    if origin(&url).ok() != origin(&upstream.config.issuer).ok() {
        return Ok(http::html(
            StatusCode::OK,
            pages::continue_to(&upstream.config.name, &url),
            http::PAGE_CSP,
        ));
    }
    Ok(http::redirect(&url))
}

/// Begins the login at the upstream: JARM when it offers it; `prompt=login` when the relying party here asked
/// for a fresh sign-in, and its `max_age`.
async fn begin(
    upstream: &Upstream,
    fresh: bool,
    max_age: Option<u64>,
) -> Result<(String, LoginSession), RpError> {
    let meta = upstream.rp.provider(&upstream.config.issuer).await?;
    let jarm = meta
        .metadata
        .response_modes_supported
        .iter()
        .any(|m| m == "jwt" || m == "query.jwt");
    let opts = AuthOptions {
        response_mode: jarm.then_some(ResponseMode::Jwt),
        prompt: fresh.then(|| "login".to_owned()),
        // The relying party's max_age holds at the upstream too: portcullis-rp then requires and checks the
        // ID token's auth_time, which becomes the session's.
        max_age,
        ..AuthOptions::default()
    };
    upstream.rp.begin(&upstream.config.issuer, &opts).await
}

/// The error page for an upstream that failed or refused.
fn failed(upstream: &Upstream, e: &RpError) -> Response {
    tracing::warn!("upstream {}: {e}", upstream.config.id);
    let name = &upstream.config.name;
    match e {
        RpError::Provider { error, .. } if error.as_str() == "access_denied" => error_page(
            StatusCode::FORBIDDEN,
            "access_denied",
            &format!("{name} did not sign you in. Go back to the application to try again."),
        ),
        _ => error_page(
            StatusCode::BAD_GATEWAY,
            "temporarily_unavailable",
            &format!("Signing in with {name} failed. Go back to the application to try again."),
        ),
    }
}

/// The `state` of a callback: its parameter, or the claim inside a JARM response (read only to find the stored
/// login; verified with the rest by `portcullis-rp`).
fn state_of(params: &Params) -> Option<String> {
    if let Some(s) = params.get("state") {
        return Some(s.to_owned());
    }
    let response = params.get("response").filter(|r| r.len() <= MAX_RESPONSE)?;
    let payload = response.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("state")?.as_str().map(str::to_owned)
}

/// `GET /upstream/callback`.
pub async fn callback(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    callback_inner(&p, ip, &headers, query.as_deref().unwrap_or(""))
        .await
        .unwrap_or_else(|r| r)
}

async fn callback_inner(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    query: &str,
) -> HttpResult<Response> {
    let t = now();
    let gone = || {
        bad(
            "this sign-in is unknown, expired or already completed; start again from the application",
        )
    };
    let params = Params::parse(query).map_err(|_| bad("malformed callback"))?;
    let Some(state) = state_of(&params) else {
        return Err(gone());
    };
    let key = hash(&state);
    let Some(row) = p.store.upstream_request(&key).await.map_err(db)? else {
        return Err(gone());
    };
    let same_browser = BrowserBinding::existing(headers, p.secure_cookies())
        .is_some_and(|b| b.matches(&row.browser));
    if !same_browser {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this sign-in was started in another browser; start again from the application",
        ));
    }
    // Taken once, whatever follows.
    if !p.store.take_upstream_request(&key).await.map_err(db)? || row.expires_at <= t {
        return Err(gone());
    }
    let (Some(upstream), Ok(session)) = (
        p.upstreams.get(&row.upstream_id),
        serde_json::from_str::<LoginSession>(&row.session),
    ) else {
        return Err(gone());
    };
    let cb = Callback::parse(query).map_err(|_| bad("malformed callback"))?;
    let login = upstream
        .rp
        .complete(&session, &cb)
        .await
        .map_err(|e| failed(upstream, &e));
    let login = match login {
        Ok(l) => l,
        Err(page) => {
            p.metrics.sign_in("upstream", false);
            crate::audit::Audit {
                kind: "sign_in",
                outcome: "failure",
                address: Some(ip),
                detail: &format!("upstream:{}", upstream.config.id),
                ..Default::default()
            }
            .record(&p.store)
            .await;
            return Err(page);
        }
    };
    let mut claims = login.claims();
    if login.access_token.is_some() {
        match upstream.rp.userinfo(&upstream.config.issuer, &login).await {
            Ok(info) => claims.extend(info),
            Err(e) => tracing::warn!("upstream {}: userinfo: {e}", upstream.config.id),
        }
    }
    let Some(pending) = p
        .store
        .pending(&row.pending_id, "authorize", t)
        .await
        .map_err(db)?
    else {
        return Err(gone());
    };
    let stored = Params::parse(&pending.params).map_err(|_| bad("stored request"))?;
    let v = match establish(p, &stored).await? {
        Ok(v) => v,
        Err(_) => return Err(bad("the stored request is no longer valid")),
    };
    if login.subject().is_empty() {
        return Err(bad("the identity provider named nobody"));
    }
    // When the upstream authenticated its user (the ID token's auth_time, never later than now).
    let at = claims
        .get("auth_time")
        .and_then(Value::as_i64)
        .map_or(t, |a| a.min(t));
    let mapped = upstream.config.map_claims(&claims);
    let user = match account(p, upstream, (login.subject(), &mapped), headers, t).await? {
        Account::User(u) => u,
        Account::Ask(session) => {
            return ask(
                p,
                upstream,
                (login.subject(), &mapped, at),
                (&pending, &v),
                &session,
            )
            .await;
        }
    };
    p.metrics.sign_in("upstream", true);
    crate::audit::Audit {
        kind: "sign_in",
        outcome: "success",
        user_id: Some(&user.id),
        client_id: Some(&pending.client_id),
        address: Some(ip),
        detail: &format!("upstream:{}", upstream.config.id),
    }
    .record(&p.store)
    .await;
    let arrival = pending.expires_at - PENDING_LIFETIME;
    complete(
        p,
        (v, pending, Phase::Login, AuthRecord::default()),
        SignedIn {
            proven: user,
            recorded_as: UPSTREAM_METHOD,
            skip_consent: false,
            at,
        },
        (t, arrival),
        headers,
    )
    .await
}

//! `/end_session` (OpenID Connect RP-Initiated Logout 1.0): ends the browser's session and, when the client
//! is known (`id_token_hint` or `client_id`, which must agree), redirects to a registered
//! `post_logout_redirect_uri`; otherwise shows the signed-out page.
//!
//! The whole request is validated before anything ends. A session ends at once only when a valid
//! `id_token_hint` names its user (the RP that holds the user's ID token asks); any other request — no hint, a
//! hint for another user — gets a confirmation page whose form (bound to the session and the browser, single
//! use, posted from this site) is answered at `/end_session/confirm` (§2: the OP asks the user whether to log
//! out). Without a session there is nothing to end, and the answer is the same redirect or page.
//!
//! Must not: redirect to an unregistered URI, trust an `id_token_hint` that is not ours, or end a session that a
//! cross-site request names without the user's confirmation.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{Params, ResponseMode, redirect_with};
use serde_json::{Map, Value};

use super::authorize::MAX_STORED_REQUEST;
use crate::http::binding::{BrowserBinding, same_site_form};
use crate::http::{self, HttpResult, PAGE_CSP, csrf, db};
use crate::provider::Provider;
use crate::store::{PendingRow, SessionRow};
use crate::{now, pages, random_token};

/// How long a logout confirmation page can be answered.
const CONFIRM_LIFETIME: i64 = 600;

/// The end-session endpoint, GET or POST.
pub async fn end_session(
    State(p): State<Arc<Provider>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    end_session_inner(&p, method, &headers, query, body)
        .await
        .unwrap_or_else(|r| r)
}

/// The confirmation form's answer (POST).
pub async fn confirm(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    confirm_inner(&p, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

fn bad(d: &str) -> Response {
    http::error_page(StatusCode::BAD_REQUEST, "invalid_request", d)
}

/// A validated logout request: where to send the browser after, and the user the `id_token_hint` names.
struct Logout {
    /// The registered `post_logout_redirect_uri` with `state`, when one was asked for.
    redirect: Option<String>,
    /// The client, when known.
    client: Option<Arc<crate::clients::Client>>,
    /// The subject of a valid `id_token_hint` (as its client sees users).
    hint_sub: Option<String>,
}

/// Validates a logout request completely: the hint, the client, the redirect URI. Nothing is ended here.
async fn validate(p: &Provider, params: &Params) -> HttpResult<Logout> {
    let mut client_id = params.get("client_id").map(str::to_owned);
    let mut hint_sub = None;
    if let Some(hint) = params.get("id_token_hint") {
        let aud = portcullis_jose::jws::decode_unverified(hint)
            .ok()
            .and_then(|u| serde_json::from_slice::<Map<String, Value>>(&u.payload).ok())
            .and_then(|m| m.get("aud").and_then(|a| a.as_str().map(str::to_owned)));
        let Some(aud) = aud else {
            return Err(bad("id_token_hint is not an ID token from this provider"));
        };
        if client_id.as_deref().is_some_and(|c| c != aud) {
            return Err(bad("client_id differs from the id_token_hint audience"));
        }
        let client = p.client(&aud).await?.ok_or_else(|| bad("unknown client"))?;
        hint_sub = Some(
            p.hint_subject(hint, &client)
                .ok_or_else(|| bad("id_token_hint is not an ID token from this provider"))?,
        );
        client_id = Some(aud);
    }
    let client = match &client_id {
        Some(cid) => Some(p.client(cid).await?.ok_or_else(|| bad("unknown client"))?),
        None => None,
    };
    let redirect = match (params.get("post_logout_redirect_uri"), &client) {
        (Some(uri), Some(client)) => {
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(bad("post_logout_redirect_uri is not registered"));
            }
            let mut pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::new();
            if let Some(s) = params.get("state") {
                pairs.push(("state", s.into()));
            }
            Some(
                redirect_with(uri, ResponseMode::Query, &Params::from_pairs(pairs))
                    .map_err(|_| bad("bad post_logout_redirect_uri"))?,
            )
        }
        (Some(_), None) => {
            return Err(bad(
                "post_logout_redirect_uri needs id_token_hint or client_id",
            ));
        }
        (None, _) => None,
    };
    Ok(Logout {
        redirect,
        client,
        hint_sub,
    })
}

async fn end_session_inner(
    p: &Provider,
    method: Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> HttpResult<Response> {
    let params = if method == Method::POST {
        http::read_form(p.cfg.max_request_bytes, headers, body).await?
    } else {
        Params::parse(query.as_deref().unwrap_or("")).map_err(|e| bad(&e.to_string()))?
    };
    let logout = validate(p, &params).await?;
    let Some((hash, session)) = p.current_session(headers).await? else {
        // Nothing to end.
        return Ok(finish(p, &logout));
    };
    let hint_names_session_user = match (&logout.hint_sub, &logout.client) {
        (Some(sub), Some(client)) => *sub == p.subject(client, &session.user_id),
        _ => false,
    };
    if hint_names_session_user {
        p.store.delete_session(&hash).await.map_err(db)?;
        return Ok(finish(p, &logout));
    }
    confirmation_page(
        p,
        headers,
        &params,
        &session,
        logout.client.as_deref(),
        logout.redirect.as_deref(),
    )
    .await
}

/// Asks the user whether to sign out: the request waits as a pending row of kind `logout` (only the logout
/// parameters), answered once from this browser and session.
async fn confirmation_page(
    p: &Provider,
    headers: &HeaderMap,
    params: &Params,
    session: &SessionRow,
    client: Option<&crate::clients::Client>,
    redirect: Option<&str>,
) -> HttpResult<Response> {
    let kept: Vec<(&str, std::borrow::Cow<'_, str>)> = [
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
    ]
    .into_iter()
    .filter_map(|k| params.get(k).map(|v| (k, v.into())))
    .collect();
    let params = Params::from_pairs(kept).to_form();
    if params.len() > MAX_STORED_REQUEST {
        return Err(bad(
            "the request is too large to keep while the user confirms",
        ));
    }
    let browser = BrowserBinding::of(headers, p.secure_cookies());
    let row = PendingRow {
        id: random_token(),
        kind: "logout".into(),
        client_id: client.map(|c| c.id.clone()).unwrap_or_default(),
        params,
        csrf: csrf::bound_to_session(&random_token(), &session.sid),
        expires_at: now() + CONFIRM_LIFETIME,
        browser: browser.hash(),
    };
    p.store.put_pending(&row).await.map_err(db)?;
    // The confirmed form is answered with a redirect to the post-logout URI: browsers apply `form-action` to
    // it, so the page allows that origin (and only it).
    let page = pages::logout_confirm(&row.id, &row.csrf, client.map(|c| c.name.as_str()));
    let mut resp = match redirect {
        Some(uri) => http::html_csp(StatusCode::OK, page, &http::form_page_csp(uri)),
        None => http::html(StatusCode::OK, page, PAGE_CSP),
    };
    browser.set_cookie(&mut resp, p.secure_cookies());
    Ok(resp)
}

async fn confirm_inner(p: &Provider, headers: &HeaderMap, body: Body) -> HttpResult<Response> {
    same_site_form(headers, &p.issuer_origin())?;
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let id = form.get("pending").ok_or_else(|| bad("missing request"))?;
    let token = form.get("csrf").ok_or_else(|| bad("missing CSRF token"))?;
    let row = p
        .store
        .pending(id, "logout", now())
        .await
        .map_err(db)?
        .ok_or_else(|| bad("the sign-out request expired; start again from the application"))?;
    csrf::check(&row.csrf, token)?;
    let forbidden = |d: &str| http::error_page(StatusCode::FORBIDDEN, "invalid_request", d);
    if !BrowserBinding::existing(headers, p.secure_cookies())
        .is_some_and(|b| b.matches(&row.browser))
    {
        return Err(forbidden("this sign-out was started in another browser"));
    }
    let session = p.current_session(headers).await?;
    let Some((hash, _)) = session.filter(|(_, s)| csrf::is_bound_to_session(&row.csrf, &s.sid))
    else {
        return Err(forbidden("this sign-out belongs to another session"));
    };
    if !p.store.take_pending(&row.id).await.map_err(db)? {
        return Err(bad("this sign-out was already answered"));
    }
    // Validated again: the client may have changed since the page was shown.
    let params = Params::parse(&row.params).map_err(|_| bad("stored request"))?;
    let logout = validate(p, &params).await?;
    p.store.delete_session(&hash).await.map_err(db)?;
    Ok(finish(p, &logout))
}

/// After logout (or when there was nothing to end): the redirect, or the signed-out page; the session cookie
/// is cleared either way.
fn finish(p: &Provider, logout: &Logout) -> Response {
    let mut resp = match &logout.redirect {
        Some(u) => http::redirect(u),
        None => http::html(StatusCode::OK, pages::logged_out(), PAGE_CSP),
    };
    let clear = http::session_cookie("", 0, p.secure_cookies());
    if let Ok(h) = HeaderValue::from_str(&clear) {
        resp.headers_mut().append(header::SET_COOKIE, h);
    }
    resp
}

//! `/authorize` (OIDC Core §3.1.2, RFC 6749 §4.1.1): the authorization endpoint as a pipeline of small named
//! steps, in the order they run. Until the client and redirect URI are trusted every failure is an error page;
//! after that, errors go back to the client in its response mode.
//!
//! 1. [`request::establish`]: the client, a pushed request (`request_uri`), the redirect URI, the response
//!    mode for errors, the request (parameters or a signed request object).
//! 2. [`checks::REQUEST_CHECKS`]: `openid` scope, response type, implicit grant, response mode (no tokens in a
//!    query), scope, PKCE, `claims` sub.
//! 3. [`checks::ARRIVAL_CHECKS`]: PAR required, essential `acr`.
//!    With `prompt=create` (a relying party's signed registration request), [`crate::endpoints::register`]
//!    takes over: the create-a-passkey page, then the same steps from 6.
//! 4. [`prompt::login_needed`]: the session against `prompt`, `max_age`, `id_token_hint`, the `claims` sub;
//!    the login page when it falls short.
//! 5. [`policy::missing_step`]: step-up, when the request wants an `acr` the session lacks: a page offering
//!    only the methods that add it.
//! 6. [`consent::after_login`]: consent (remembered, or the consent page).
//! 7. [`issue::issue_authorization`]: the code / tokens, sent by [`respond`].
//!
//! Must not: render HTML itself (pages come from [`crate::pages`] and the login methods).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use portcullis_oidc::{ErrorCode, Params, Prompt};

use crate::authn::policy;
use crate::authn::throttle::RetryAfter;
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, db};
use crate::provider::Provider;
use crate::{hash, now};

pub(crate) mod checks;
pub(crate) mod consent;
pub(crate) mod issue;
pub(crate) mod prompt;
pub(crate) mod request;
pub(crate) mod respond;

/// How long a pending login/consent request lives.
pub(crate) const PENDING_LIFETIME: i64 = 600;

/// The most a pending or pushed request may keep of its parameters (after unknown ones are dropped), bytes.
pub(crate) const MAX_STORED_REQUEST: usize = 16 * 1024;

/// 429 with `Retry-After`: an address asked for too many login pages.
pub(crate) fn too_many_pages(secs: u64) -> Response {
    let mut resp = http::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        "too many sign-in requests from this address; try again shortly",
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    resp
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The authorization endpoint, GET (query) or POST (form).
pub async fn authorize(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let raw = if method == Method::POST {
        let bytes = match http::read_body(body, p.cfg.max_request_bytes).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        match http::form_body(&headers, &bytes) {
            Ok(p) => p,
            Err(e) => {
                return http::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &e.to_string(),
                );
            }
        }
    } else {
        match Params::parse(query.as_deref().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => {
                return http::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &e.to_string(),
                );
            }
        }
    };
    pipeline(&p, ip, &headers, &raw).await.unwrap_or_else(|r| r)
}

/// The pipeline, steps 1 to 7.
async fn pipeline(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    raw: &Params,
) -> HttpResult<Response> {
    // 1.
    let mut v = match request::establish(p, raw).await? {
        Ok(v) => v,
        Err((target, e)) => return Ok(p.auth_error(&target, e.code(), &e.to_string())),
    };
    request::check_create_is_signed(&v)?;
    let target = v.error_target();
    // 2–3.
    let checked = checks::run(p, &v, &checks::REQUEST_CHECKS)
        .and_then(|()| checks::run(p, &v, &checks::ARRIVAL_CHECKS))
        .and_then(|()| request::check_second_factor(p, &v));
    if let Err(r) = checked {
        return Ok(p.refuse(&target, r));
    }
    // OpenID Connect Prompt Create: the relying party asks for a new account (a signed request, checked in 1).
    if v.req.prompt.contains(&Prompt::Create) {
        if let Err(RetryAfter(secs)) = p.throttle.allow_work(ip, now_millis()) {
            return Ok(too_many_pages(secs));
        }
        // A pushed registration request serves the first browser that opens it: its request_uri is consumed
        // now (a leaked URL must not let someone else register the account first).
        request::take_pushed_once(p, &mut v).await?;
        return crate::endpoints::register::start(p, &v, headers).await;
    }
    // 4. The session, its user and their consent for this client: one read.
    let context = match http::cookie(headers, http::SESSION_COOKIE) {
        Some(token) => p
            .store
            .session_context(&hash(token), &v.client.id, now())
            .await
            .map_err(db)?,
        None => None,
    };
    let t = now();
    let reason = match prompt::login_needed(p, &v, context.as_ref().map(|c| &c.session), t) {
        Err(r) => return Ok(p.refuse(&target, r)),
        Ok(reason) => reason,
    };
    let context = match (reason, context) {
        (None, Some(c)) => c,
        // No session, or one that does not satisfy the request: the login page, which stores the request
        // (at the configured rate per address).
        _ => {
            if let Err(RetryAfter(secs)) = p.throttle.allow_work(ip, now_millis()) {
                return Ok(too_many_pages(secs));
            }
            // A pushed second-factor request, likewise, serves one browser.
            if v.second_factor.is_some() {
                request::take_pushed_once(p, &mut v).await?;
            }
            return crate::endpoints::login::first_page(p, &v, headers, t).await;
        }
    };
    // 5. Step-up: a requested `acr` the session lacks; only the methods that add it are offered.
    if !policy::wanted_acr(&v.req).0.is_empty() {
        let record = policy::counted(&v.req, &p.session_record(&context.session), t);
        let user = context.user.as_ref();
        if let Some(next) = crate::endpoints::attempts::next_step(p, &v, &record, user).await? {
            if v.req.prompt.contains(&Prompt::None) {
                return Ok(p.auth_error(
                    &target,
                    ErrorCode::LoginRequired,
                    "prompt=none but the request needs another sign-in step",
                ));
            }
            return crate::endpoints::login::step_up_page(
                p,
                &v,
                headers,
                (&context.session, user),
                &next,
                t,
            )
            .await;
        }
    }
    // 6–7.
    let known = consent::Known {
        user: context.user,
        consent: context.consent,
    };
    consent::after_login(p, v, context.session, Some(known), None, t, headers).await
}

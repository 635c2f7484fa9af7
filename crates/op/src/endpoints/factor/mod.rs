//! `/Factor/Authenticate` (GET; `/factor/authenticate` too): an application sends the user's browser here to
//! have the user pass extra factors before a sensitive action, and gets back a short-lived signed Auth Token
//! (`portcullis_factor`) proving which ones — the step-up contract of seed 003, made safer (the token names its
//! audience, has `jti` and an explicit `typ`, and is signed with the provider's published keys).
//!
//! - The request ([`portcullis_factor::FactorRequest`]): `redirectUrl`, `clientId`, `factors`. The client must
//!   exist, `redirectUrl` must match one of its registered callbacks (its `redirect_uris`, or its
//!   `factor_callback_uris`) by [`RegisteredCallback`] — extra query parameters allowed, nothing else — and each
//!   factor must be a method this provider offers. Anything else gets an error page, never a redirect.
//! - The user must be signed in; without a session the page first offers the normal sign-in. Then each factor
//!   asked for, one at a time, in the order asked (`step.rs`): only passes made while answering this request
//!   count (the request itself keeps them, not the session's clock), and a factor the user has not enrolled is
//!   named on the page with the way back.
//! - Done: a 303 to `redirectUrl` with `auth_token` added (the URL's own parameters kept). Cancelled: the same
//!   with `error=access_denied`.
//!
//! The request waits in the pending-requests table (kind `factor`) for [`LIFETIME`] seconds from its arrival,
//! bound to the browser that opened it and, once there is one, to its session, like a login page.
//!
//! Must not: redirect anywhere not registered, issue a token for factors not passed while answering this
//! request, or for a user other than the session's.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_factor::{Factor, FactorRequest, RegisteredCallback};
use portcullis_oidc::Params;

use super::authorize::{now_millis, too_many_pages};
use crate::authn::LoginMethod;
use crate::authn::throttle::RetryAfter;
use crate::clients::Client;
use crate::factor_pages::{FactorPage, MethodSection};
use crate::http::binding::BrowserBinding;
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, csrf, db, error_page};
use crate::provider::Provider;
use crate::store::{PendingRow, SessionRow, UserRow};
use crate::templates::render;
use crate::{now, random_token};

pub mod step;
pub mod token;

/// How long a step-up request may take, from its arrival, seconds.
pub const LIFETIME: i64 = 600;
/// The pending-request kind.
pub(crate) const KIND: &str = "factor";

/// Whom a step-up request answers.
pub(crate) enum Target {
    /// An application: it gets an Auth Token for every factor asked for.
    App(Arc<Client>),
    /// The provider's own account page: any one of the user's factors, before the user changes them (no token;
    /// the pass is recorded in the session).
    Account,
}

/// The client id a stored account-page request carries (refused for applications).
pub(crate) const ACCOUNT_CLIENT: &str = "portcullis-account";

/// A validated step-up request.
pub(crate) struct Ask {
    /// Whom it answers.
    pub target: Target,
    /// Where the browser goes back to (a registered callback, with the application's own parameters).
    pub redirect_url: String,
    /// The factors asked for, in order (for the account page: the user's, any one of which will do).
    pub factors: Vec<Factor>,
    /// The application's `nonce`, echoed in the token.
    pub nonce: Option<String>,
}

impl Ask {
    /// The application's name, as pages show it.
    pub(crate) fn client_name(&self) -> &str {
        match &self.target {
            Target::App(c) => &c.name,
            Target::Account => "Your account",
        }
    }

    /// The application's `client_id`.
    pub(crate) fn client_id(&self) -> &str {
        match &self.target {
            Target::App(c) => &c.id,
            Target::Account => ACCOUNT_CLIENT,
        }
    }
}

/// How pages name a factor.
pub(crate) fn factor_label(f: Factor) -> &'static str {
    match f {
        Factor::Email => "a code sent by e-mail",
        Factor::Sms => "a code sent by text message",
        Factor::MobileApp => "a code from your authenticator app",
        Factor::SecondPassword => "your second password",
        Factor::Passkey => "a passkey",
    }
}

/// The callbacks `client` registered for step-up: its `redirect_uris` and its `factor_callback_uris` (https, or
/// http on loopback).
fn callbacks(client: &Client) -> Vec<RegisteredCallback> {
    let extra = client
        .meta
        .extra
        .get("factor_callback_uris")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        // Held to the rule of web redirect URIs: https, or http on loopback only.
        .filter(|u| {
            url::Url::parse(u).is_ok_and(|u| {
                u.scheme() == "https"
                    || (u.scheme() == "http"
                        && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
            })
        });
    client
        .meta
        .redirect_uris
        .iter()
        .map(String::as_str)
        .chain(extra)
        .filter_map(|u| RegisteredCallback::new(u).ok())
        .collect()
}

/// Checks `req` against the registry: the client, its callback, the factors. An error page otherwise.
pub(crate) async fn checked(p: &Provider, req: FactorRequest) -> HttpResult<Ask> {
    let bad = |d: &str| error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let client = match p.client(&req.client_id).await? {
        Some(c) if req.client_id != ACCOUNT_CLIENT => c,
        _ => return Err(bad("unknown clientId")),
    };
    if !callbacks(&client)
        .iter()
        .any(|c| c.matches(&req.redirect_url))
    {
        return Err(bad(
            "redirectUrl is not a callback registered for this client",
        ));
    }
    if let Some(f) = req
        .factors
        .iter()
        .find(|f| p.methods.get(f.key()).is_none())
    {
        return Err(bad(&format!("the factor {} is not offered here", f.key())));
    }
    // The answer's own parameters may not be in the callback already (an application reading the first
    // `auth_token` or `error` would read the asker's).
    let query = url::Url::parse(&req.redirect_url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, _)| k.into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if query
        .iter()
        .any(|k| ["auth_token", "error", "error_description"].contains(&k.as_str()))
    {
        return Err(bad(
            "redirectUrl may not carry auth_token or error parameters",
        ));
    }
    Ok(Ask {
        target: Target::App(client),
        redirect_url: req.redirect_url,
        factors: req.factors,
        nonce: req.nonce,
    })
}

/// The stored form of a request: what it asked, when it arrived, whether it began without a session, and the
/// factors passed for it so far.
fn stored_params(ask: &Ask, arrival: i64, login: bool, passed: &[Factor]) -> String {
    let keys = |list: &[Factor]| list.iter().map(|f| f.key()).collect::<Vec<_>>().join(" ");
    let mut pairs = vec![
        ("redirectUrl", ask.redirect_url.clone()),
        ("clientId", ask.client_id().to_owned()),
        ("factors", keys(&ask.factors)),
        ("arrival", arrival.to_string()),
        ("passed", keys(passed)),
    ];
    if login {
        pairs.push(("login", "1".into()));
    }
    if matches!(ask.target, Target::Account) {
        pairs.push(("target", "account".into()));
    }
    if let Some(n) = &ask.nonce {
        pairs.push(("nonce", n.clone()));
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A stored request, checked again (the client may have changed): what it asks, when it arrived, whether it
/// began without a session, and the factors passed for it so far.
pub(crate) async fn from_stored(
    p: &Provider,
    row: &PendingRow,
) -> HttpResult<(Ask, i64, bool, Vec<Factor>)> {
    let bad = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the stored request is no longer valid; start again from the application",
        )
    };
    let req = FactorRequest::parse(&row.params).map_err(|_| bad())?;
    let params = Params::parse(&row.params).map_err(|_| bad())?;
    let arrival = params
        .get("arrival")
        .and_then(|a| a.parse::<i64>().ok())
        .ok_or_else(bad)?;
    let login = params.get("login") == Some("1");
    let mut passed = Vec::new();
    for k in params
        .get("passed")
        .unwrap_or("")
        .split(' ')
        .filter(|k| !k.is_empty())
    {
        passed.push(Factor::from_key(k).ok_or_else(bad)?);
    }
    let ask = if params.get("target") == Some("account") {
        Ask {
            target: Target::Account,
            redirect_url: p.endpoint("/account/factors"),
            factors: req.factors,
            nonce: None,
        }
    } else {
        checked(p, req).await?
    };
    Ok((ask, arrival, login, passed))
}

/// Stores a pending step of `ask` (arrived at `arrival`, `passed` so far) for `browser` and, when signed in,
/// `session`.
pub(crate) async fn store_pending(
    p: &Provider,
    (ask, arrival, passed): (&Ask, i64, &[Factor]),
    browser: &BrowserBinding,
    session: Option<&SessionRow>,
) -> HttpResult<PendingRow> {
    let params = stored_params(ask, arrival, session.is_none(), passed);
    // What is stored must parse again within the request limit (a callback of many escaped characters grows).
    if params.len() > portcullis_factor::MAX_QUERY {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirectUrl is too long",
        ));
    }
    let row = PendingRow {
        id: random_token(),
        kind: KIND.into(),
        client_id: ask.client_id().to_owned(),
        params,
        csrf: match session {
            Some(s) => csrf::bound_to_session(&random_token(), &s.sid),
            None => random_token(),
        },
        expires_at: arrival + LIFETIME,
        browser: browser.hash(),
    };
    p.store.put_pending(&row).await.map_err(db)?;
    Ok(row)
}

/// What the request needs next.
pub(crate) enum Next<'p> {
    /// A sign-in first (no session): the methods that sign a user in.
    Login(Vec<&'p dyn LoginMethod>),
    /// The next factor asked for, by its method (for the account page: each of the user's factors, any one).
    Factors(Vec<&'p dyn LoginMethod>),
    /// The next factor asked for is not one the user enrolled.
    NotEnrolled(Factor),
    /// Every factor asked for was passed.
    Done,
}

/// What `ask` needs next from `user` (none: not signed in), `passed` being the factors passed for it so far.
pub(crate) async fn next<'p>(
    p: &'p Provider,
    ask: &Ask,
    user: Option<&UserRow>,
    passed: &[Factor],
) -> HttpResult<Next<'p>> {
    let Some(user) = user else {
        return Ok(Next::Login(
            p.methods.iter().filter(|m| m.first_factor()).collect(),
        ));
    };
    if matches!(ask.target, Target::Account) {
        if !passed.is_empty() {
            return Ok(Next::Done);
        }
        let mut any = Vec::new();
        for f in &ask.factors {
            if let Some(m) = p.methods.get(f.key())
                && m.enrolled(&p.store, user).await.map_err(db)?
            {
                any.push(m);
            }
        }
        return Ok(if any.is_empty() {
            Next::Done
        } else {
            Next::Factors(any)
        });
    }
    let Some(f) = ask.factors.iter().copied().find(|f| !passed.contains(f)) else {
        return Ok(Next::Done);
    };
    let Some(m) = p.methods.get(f.key()) else {
        return Ok(Next::NotEnrolled(f));
    };
    if m.enrolled(&p.store, user).await.map_err(db)? {
        Ok(Next::Factors(vec![m]))
    } else {
        Ok(Next::NotEnrolled(f))
    }
}

/// The step-up page for `row`: `sections` (the methods' forms), what was asked and passed, and `error`.
pub(crate) fn page(
    ask: &Ask,
    row: &PendingRow,
    (passed, sections): (&[Factor], &[MethodSection<'_>]),
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let asked: Vec<&str> = ask.factors.iter().map(|f| factor_label(*f)).collect();
    let done: Vec<&str> = passed.iter().map(|f| factor_label(*f)).collect();
    let html = render(&FactorPage {
        pending: &row.id,
        csrf: &row.csrf,
        client_name: ask.client_name(),
        asked: &asked,
        passed: &done,
        error,
        sections,
    });
    http::html_csp(status, html, &http::form_page_csp(&ask.redirect_url))
}

/// The sections of `methods` on the page, rendered for `user` (`None` before sign-in).
pub(crate) fn sections<'a>(
    methods: &[&'a dyn LoginMethod],
    row: &'a PendingRow,
    client_name: &'a str,
    user: Option<&'a UserRow>,
) -> Vec<MethodSection<'a>> {
    let ctx = crate::authn::LoginPage {
        pending: &row.id,
        csrf: &row.csrf,
        client_name,
        login_hint: user.map(|u| u.username.as_str()),
        error: None,
        user,
    };
    methods
        .iter()
        .map(|m| MethodSection {
            method: m.id(),
            begin: m.multi_step(),
            ceremony: None,
            inputs: m.form(&ctx),
        })
        .collect()
}

/// The page showing what `next` needs, for `row`.
pub(crate) fn next_page(
    ask: &Ask,
    row: &PendingRow,
    (next, passed): (&Next<'_>, &[Factor]),
    user: Option<&UserRow>,
    (error, status): (Option<&str>, StatusCode),
) -> Response {
    let methods: Vec<&dyn LoginMethod> = match next {
        Next::Login(list) => list.clone(),
        Next::Factors(list) => list.clone(),
        Next::NotEnrolled(_) | Next::Done => Vec::new(),
    };
    let not_enrolled;
    let error = match next {
        Next::NotEnrolled(f) => {
            not_enrolled = format!(
                "Your account has no {} set up. Set it up on your account page (/account/factors), then try again from the application.",
                f.key()
            );
            Some(not_enrolled.as_str())
        }
        _ => error,
    };
    let sections = sections(&methods, row, ask.client_name(), user);
    page(ask, row, (passed, &sections), error, status)
}

/// `GET /Factor/Authenticate`.
pub async fn authenticate(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    authenticate_inner(&p, ip, &headers, query.as_deref().unwrap_or(""))
        .await
        .unwrap_or_else(|r| r)
}

async fn authenticate_inner(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    query: &str,
) -> HttpResult<Response> {
    let req = FactorRequest::parse(query)
        .map_err(|e| error_page(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()))?;
    let ask = checked(p, req).await?;
    // Each request stores a pending row: at the configured rate per address, like login pages.
    if let Err(RetryAfter(secs)) = p.throttle.allow_work(ip, now_millis()) {
        return Ok(too_many_pages(secs));
    }
    let session = p.current_session(headers).await?.map(|(_, s)| s);
    let user = match &session {
        Some(s) => p.store.user(&s.user_id).await.map_err(db)?,
        None => None,
    };
    start(p, &ask, headers, (session.as_ref(), user.as_ref())).await
}

/// Stores a new request `ask` for this browser (and its session, when signed in) and shows its first page.
pub(crate) async fn start(
    p: &Provider,
    ask: &Ask,
    headers: &HeaderMap,
    (session, user): (Option<&SessionRow>, Option<&UserRow>),
) -> HttpResult<Response> {
    let t = now();
    let browser = BrowserBinding::of(headers, p.secure_cookies());
    // A session whose user is gone counts as none.
    let session = session.filter(|_| user.is_some());
    let row = store_pending(p, (ask, t, &[]), &browser, session).await?;
    let next = next(p, ask, user, &[]).await?;
    let mut resp = next_page(ask, &row, (&next, &[]), user, (None, StatusCode::OK));
    browser.set_cookie(&mut resp, p.secure_cookies());
    Ok(resp)
}

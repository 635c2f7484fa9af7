//! Which local account an upstream subject signs in to ([`account`]), and the question asked when that is not
//! settled yet and somebody is signed in here ([`ask`], answered at `POST /upstream/link`, [`decide`]).
//!
//! - A subject linked before: its account (an account made for the upstream takes its mapped claims again).
//! - Not linked, nobody signed in here: a new account without a password, linked.
//! - Not linked, somebody signed in here: the user is asked whether to add the upstream to *this* account or
//!   keep a separate one. Never silently: a browser sent through an upstream by somebody else (signed in there
//!   as the attacker) must not attach the attacker's identity to the victim's account. The answer must come
//!   from the same browser and the same session, from this provider's page, once.
//!
//! Must not: link a subject to an account without that account's user saying so, or answer a question asked in
//! another session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::Params;
use serde_json::{Map, Value, json};

use super::authorize::PENDING_LIFETIME;
use super::authorize::request::{Validated, establish};
use super::login::{Phase, SignedIn, complete};
use crate::authn::AuthRecord;
use crate::http::binding::{BrowserBinding, same_site_form};
use crate::http::{self, HttpResult, csrf, db, error_page};
use crate::pages::{self, UpstreamLinkPage};
use crate::provider::Provider;
use crate::store::{PendingRow, SessionRow, UserRow};
use crate::upstream::{UPSTREAM_METHOD, Upstream};
use crate::{now, random_token};

fn gone() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "this sign-in is unknown, expired or already completed; start again from the application",
    )
}

/// Where an upstream sign-in leads.
pub(crate) enum Account {
    /// This account.
    User(UserRow),
    /// Not settled: ask the user signed in in this session.
    Ask(SessionRow),
}

/// The account of `subject` at `upstream` (see the module documentation); `claims` are the mapped ones.
pub(crate) async fn account(
    p: &Provider,
    upstream: &Upstream,
    (subject, claims): (&str, &Map<String, Value>),
    headers: &HeaderMap,
    t: i64,
) -> HttpResult<Account> {
    let id = upstream.config.id.as_str();
    if let Some(user_id) = p.store.upstream_account(id, subject).await.map_err(db)? {
        return user_with_claims(p, upstream, &user_id, claims)
            .await
            .map(Account::User);
    }
    if let Some((_, session)) = p.current_session(headers).await? {
        return Ok(Account::Ask(session));
    }
    link_new(p, upstream, (subject, claims), t)
        .await
        .map(Account::User)
}

/// A new account for `subject`, linked (or the account a concurrent sign-in linked first); `claims` are the
/// mapped ones.
async fn link_new(
    p: &Provider,
    upstream: &Upstream,
    (subject, claims): (&str, &Map<String, Value>),
    t: i64,
) -> HttpResult<UserRow> {
    let id = upstream.config.id.as_str();
    let fresh_id = random_token()[..22].to_owned();
    let fresh = UserRow {
        id: fresh_id.clone(),
        // Unique, and no local sign-in name: no password matches an empty hash.
        username: format!("~upstream/{id}/{fresh_id}"),
        password_hash: String::new(),
        claims: "{}".into(),
        consent_withdrawn_at: None,
    };
    if !p.store.add_user(&fresh, t).await.map_err(db)? {
        return Err(http::unavailable());
    }
    let linked = p
        .store
        .link_upstream_account(id, subject, &fresh_id, t)
        .await
        .map_err(db)?;
    user_with_claims(p, upstream, &linked, claims).await
}

/// The account `user_id`; one made for `upstream` takes the `mapped` claims (already mapped and checked,
/// [`crate::upstream::UpstreamConfig::map_claims`]) in place of its previous ones, one that existed before keeps
/// its own.
async fn user_with_claims(
    p: &Provider,
    upstream: &Upstream,
    user_id: &str,
    mapped: &Map<String, Value>,
) -> HttpResult<UserRow> {
    let Some(mut user) = p.store.user(user_id).await.map_err(db)? else {
        return Err(gone());
    };
    if user
        .username
        .starts_with(&format!("~upstream/{}/", upstream.config.id))
    {
        // The upstream is the source of this account's claims: what it says now replaces what it said before.
        let text = Value::Object(mapped.clone()).to_string();
        if text != user.claims {
            p.store.set_user_claims(&user.id, &text).await.map_err(db)?;
            user.claims = text;
        }
    }
    Ok(user)
}

/// A display name out of claims: `name`, else `email`, else `fallback`.
fn display<'a>(claims: &'a Map<String, Value>, fallback: &'a str) -> &'a str {
    ["name", "email", "preferred_username"]
        .iter()
        .find_map(|c| claims.get(*c).and_then(Value::as_str))
        .unwrap_or(fallback)
}

/// Asks the user signed in in `session` whether to add `subject` at `upstream` to their account; the question
/// (with the mapped `claims`, bounded) is kept, bound to this browser and this session, until the answer or the
/// authorization request's expiry.
pub(crate) async fn ask(
    p: &Provider,
    upstream: &Upstream,
    (subject, claims, at): (&str, &Map<String, Value>, i64),
    (pending, v): (&PendingRow, &Validated),
    session: &SessionRow,
) -> HttpResult<Response> {
    let question = PendingRow {
        id: random_token(),
        kind: "upstream_link".into(),
        client_id: pending.client_id.clone(),
        params: json!({
            "authorize": pending.id,
            "upstream": upstream.config.id,
            "subject": subject,
            "claims": claims,
            "at": at,
        })
        .to_string(),
        csrf: csrf::bound_to_session(&random_token(), &session.sid),
        expires_at: pending.expires_at,
        browser: pending.browser.clone(),
    };
    p.store.put_pending(&question).await.map_err(db)?;
    let local = p.store.user(&session.user_id).await.map_err(db)?;
    let local_claims: Map<String, Value> = local
        .as_ref()
        .and_then(|u| serde_json::from_str(&u.claims).ok())
        .unwrap_or_default();
    let account = display(
        &local_claims,
        local.as_ref().map_or("", |u| u.username.as_str()),
    );
    let who = match claims.get("email").and_then(Value::as_str) {
        Some(email) => format!("{} ({email})", display(claims, subject)),
        None => format!("{} (account {subject})", display(claims, subject)),
    };
    let page = pages::upstream_link(&UpstreamLinkPage {
        upstream: &upstream.config.name,
        who: &who,
        account,
        pending: &question.id,
        csrf: &question.csrf,
    });
    Ok(http::html_csp(
        StatusCode::OK,
        page,
        &http::form_page_csp(&v.redirect_uri),
    ))
}

/// `POST /upstream/link`: the answer (`decision` `link` or `separate`).
pub async fn decide(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    decide_inner(&p, &headers, body).await.unwrap_or_else(|r| r)
}

async fn decide_inner(p: &Provider, headers: &HeaderMap, body: Body) -> HttpResult<Response> {
    same_site_form(headers, &p.issuer_origin())?;
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let t = now();
    let (Some(id), Some(token)) = (form.get("pending"), form.get("csrf")) else {
        return Err(gone());
    };
    let Some(question) = p.store.pending(id, "upstream_link", t).await.map_err(db)? else {
        return Err(gone());
    };
    csrf::check(&question.csrf, token)?;
    let forbidden = |d: &str| error_page(StatusCode::FORBIDDEN, "invalid_request", d);
    let same_browser = BrowserBinding::existing(headers, p.secure_cookies())
        .is_some_and(|b| b.matches(&question.browser));
    if !same_browser {
        return Err(forbidden("this question was asked in another browser"));
    }
    let Some((_, session)) = p.current_session(headers).await? else {
        return Err(forbidden("this question was asked in another session"));
    };
    if !csrf::is_bound_to_session(&question.csrf, &session.sid) {
        return Err(forbidden("this question was asked in another session"));
    }
    let link = match form.get("decision") {
        Some("link") => true,
        Some("separate") => false,
        // "This isn't me": the question is taken, nothing is linked or made, and the session stays as it was.
        Some("cancel") => {
            p.store.take_pending(&question.id).await.map_err(db)?;
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "access_denied",
                "Nothing was changed. If you did not just sign in there, somebody may have tried to link their \
                 account to yours.",
            ));
        }
        _ => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "decision must be link, separate or cancel",
            ));
        }
    };
    if !p.store.take_pending(&question.id).await.map_err(db)? {
        return Err(gone());
    }
    let q: Value = serde_json::from_str(&question.params).map_err(|_| gone())?;
    let field = |k: &str| q.get(k).and_then(Value::as_str).unwrap_or("");
    let claims = q
        .get("claims")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (Some(upstream), subject) = (p.upstreams.get(field("upstream")), field("subject")) else {
        return Err(gone());
    };
    let Some(pending) = p
        .store
        .pending(field("authorize"), "authorize", t)
        .await
        .map_err(db)?
    else {
        return Err(gone());
    };
    let stored = Params::parse(&pending.params).map_err(|_| gone())?;
    let Ok(v) = establish(p, &stored).await? else {
        return Err(gone());
    };
    let user = if link {
        let linked = p
            .store
            .link_upstream_account(&upstream.config.id, subject, &session.user_id, t)
            .await
            .map_err(db)?;
        user_with_claims(p, upstream, &linked, &claims).await?
    } else {
        link_new(p, upstream, (subject, &claims), t).await?
    };
    let arrival = pending.expires_at - PENDING_LIFETIME;
    complete(
        p,
        (v, pending, Phase::Login, AuthRecord::default()),
        SignedIn {
            proven: user,
            recorded_as: UPSTREAM_METHOD,
            skip_consent: false,
            at: q.get("at").and_then(Value::as_i64).map_or(t, |a| a.min(t)),
        },
        (t, arrival),
        headers,
    )
    .await
}

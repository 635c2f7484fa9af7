//! `/select-accounts` (seed 002's account selector): which identity provider a visitor signs in with.
//!
//! - `GET ?client_id=...&visitor_id=...`: a page listing the identity providers on offer
//!   ([`super::federation::identity_providers`]). A visitor who chose before — same client, same `visitor_id`,
//!   same browser, within [`REMEMBER_FOR`] — is sent on at once, unless the request says
//!   `prompt=select_account`.
//! - `POST` (the page's form): the choice is remembered and the browser sent to the client's registered
//!   `initiate_login_uri` (OIDC Core §4, third-party initiated login) with `iss` (the issuer to log in at) and
//!   `idp_id`.
//!
//! A choice is remembered under the hash of client, visitor id and this browser's binding cookie: a visitor id
//! alone (chosen by the relying party's page, and seen by others) does not reveal or replay anyone's choice.
//!
//! Must not: send a browser anywhere but the client's registered `initiate_login_uri`, or offer a provider that
//! is not configured.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::Params;

use super::federation::{IdentityProvider, identity_providers};
use crate::clients::Client;
use crate::http::binding::{BrowserBinding, same_site_form};
use crate::http::{self, HttpResult, db, error_page};
use crate::provider::Provider;
use crate::{hash, now, pages};

/// How long a choice is remembered, in seconds (30 days).
pub const REMEMBER_FOR: i64 = 30 * 86_400;

fn bad(description: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// A visitor id: 1 to 128 of `A-Z a-z 0-9 - _ .`, or none.
fn visitor_id(params: &Params) -> HttpResult<&str> {
    let v = params.get("visitor_id").unwrap_or("");
    let ok = v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(v)
    } else {
        Err(bad("visitor_id is malformed"))
    }
}

/// The client named, and the `initiate_login_uri` it registered (https, or http on loopback; no fragment).
async fn client_and_target(p: &Provider, params: &Params) -> HttpResult<(Arc<Client>, String)> {
    let client = match params.get("client_id") {
        Some(id) => p.client(id).await?,
        None => None,
    };
    let Some(client) = client else {
        return Err(bad("unknown client"));
    };
    let target = client
        .meta
        .extra
        .get("initiate_login_uri")
        .and_then(|v| v.as_str())
        .filter(|u| portcullis_oidc::acceptable_redirect_uri(u))
        .map(str::to_owned);
    let Some(target) = target else {
        return Err(bad("this client registered no usable initiate_login_uri"));
    };
    Ok((client, target))
}

/// The key a choice is remembered under.
fn choice_key(client: &str, visitor: &str, browser: &BrowserBinding) -> String {
    hash(&format!("{client}\n{visitor}\n{}", browser.hash()))
}

/// The redirect to `target` with `iss` and `idp_id` added (its own parameters kept).
fn initiate(target: &str, idp: &IdentityProvider) -> Response {
    let Ok(mut url) = url::Url::parse(target) else {
        return bad("this client registered no usable initiate_login_uri");
    };
    url.query_pairs_mut()
        .append_pair("iss", &idp.issuer)
        .append_pair("idp_id", &idp.idp_id);
    http::redirect(url.as_str())
}

/// `GET /select-accounts`.
pub async fn page(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    page_inner(&p, &headers, q.as_deref().unwrap_or(""))
        .await
        .unwrap_or_else(|r| r)
}

async fn page_inner(p: &Provider, headers: &HeaderMap, query: &str) -> HttpResult<Response> {
    let params = Params::parse(query).map_err(|e| bad(&e.to_string()))?;
    let (client, target) = client_and_target(p, &params).await?;
    let visitor = visitor_id(&params)?;
    let idps = identity_providers(p).await?;
    let browser = BrowserBinding::of(headers, p.secure_cookies());
    let reselect = params.get("prompt") == Some("select_account");
    if !visitor.is_empty()
        && !reselect
        && BrowserBinding::existing(headers, p.secure_cookies()).is_some()
    {
        let key = choice_key(&client.id, visitor, &browser);
        if let Some(chosen) = p.store.selector_choice(&key, now()).await.map_err(db)?
            && let Some(idp) = idps.iter().find(|i| i.idp_id == chosen)
        {
            return Ok(initiate(&target, idp));
        }
    }
    if idps.is_empty() {
        return Err(bad("no identity providers are configured"));
    }
    let list: Vec<(String, String)> = idps
        .iter()
        .map(|i| (i.idp_id.clone(), i.name.clone()))
        .collect();
    let mut resp = http::html_csp(
        StatusCode::OK,
        pages::select_accounts(&client.name, &client.id, visitor, &list),
        &http::form_page_csp(&target),
    );
    browser.set_cookie(&mut resp, p.secure_cookies());
    Ok(resp)
}

/// `POST /select-accounts`.
pub async fn choose(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    choose_inner(&p, &headers, body).await.unwrap_or_else(|r| r)
}

async fn choose_inner(p: &Provider, headers: &HeaderMap, body: Body) -> HttpResult<Response> {
    same_site_form(headers, &p.issuer_origin())?;
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let (client, target) = client_and_target(p, &form).await?;
    let visitor = visitor_id(&form)?;
    let idps = identity_providers(p).await?;
    let Some(idp) = form
        .get("idp_id")
        .and_then(|id| idps.iter().find(|i| i.idp_id == id))
    else {
        return Err(bad("no such identity provider"));
    };
    if !visitor.is_empty()
        && let Some(browser) = BrowserBinding::existing(headers, p.secure_cookies())
    {
        let key = choice_key(&client.id, visitor, &browser);
        p.store
            .put_selector_choice(&key, &idp.idp_id, now() + REMEMBER_FOR)
            .await
            .map_err(db)?;
    }
    Ok(initiate(&target, idp))
}

//! `/select-accounts` (seed 002's account selector): which identity provider a visitor signs in with.
//!
//! - `GET ?client_id=...&visitor_id=...`: a page listing the identity providers on offer
//!   ([`super::federation::identity_providers`]), each a link back here with its `idp_id`. A visitor who chose
//!   before — same client, same `visitor_id`, same browser, within [`REMEMBER_FOR`] — is sent on at once,
//!   unless the request says `prompt=select_account`.
//! - `GET` with `idp_id` (a link of the page, same-origin): the choice is remembered and the browser sent to the
//!   client's registered `initiate_login_uri` (OIDC Core §4, third-party initiated login) with `iss` (the
//!   issuer to log in at) and `idp_id`.
//!
//! A choice is remembered under the hash of client, visitor id and this browser's binding cookie: a visitor id
//! alone (chosen by the relying party's page, and seen by others) does not reveal or replay anyone's choice. A
//! choice that did not come from the page itself (`Sec-Fetch-Site` other than `same-origin`) is refused, so
//! that another site cannot plant one.
//!
//! Must not: send a browser anywhere but the client's registered `initiate_login_uri`, or offer a provider that
//! is not configured.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::Params;

use super::federation::{IdentityProvider, identity_providers};
use crate::clients::Client;
use crate::http::binding::BrowserBinding;
use crate::http::{self, HttpResult, db, error_page};
use crate::provider::Provider;
use crate::{hash, now, pages};

/// How long a choice is remembered, in seconds (30 days).
pub const REMEMBER_FOR: i64 = 30 * 86_400;

fn bad(description: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// A visitor id: 1 to 128 of `A-Z a-z 0-9 - _ .`, or none.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
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
        .filter(|u| portcullis_oidc::acceptable_redirect_uri(u) && !presets_our_parameters(u))
        .map(str::to_owned);
    let Some(target) = target else {
        return Err(bad("this client registered no usable initiate_login_uri"));
    };
    Ok((client, target))
}

/// Whether a registered `initiate_login_uri` already carries a parameter the selector adds (a second `iss`
/// could make a lenient relying party log in elsewhere).
fn presets_our_parameters(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.query_pairs()
            .any(|(k, _)| matches!(&*k, "iss" | "idp_id" | "login_hint" | "target_link_uri"))
    })
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
    if let Some(chosen) = params.get("idp_id") {
        return choose(p, headers, (&client, &target, visitor), (&idps, chosen)).await;
    }
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
    let list: Vec<(String, String, String)> = idps
        .iter()
        .map(|i| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &client.id)
                .append_pair("visitor_id", visitor)
                .append_pair("idp_id", &i.idp_id)
                .finish();
            (
                i.idp_id.clone(),
                i.name.clone(),
                format!("/select-accounts?{query}"),
            )
        })
        .collect();
    let mut resp = http::html_csp(
        StatusCode::OK,
        pages::select_accounts(&client.name, &list),
        http::PAGE_CSP,
    );
    browser.set_cookie(&mut resp, p.secure_cookies());
    Ok(resp)
}

/// A choice from the page: remembered (when there is a visitor id and a browser binding), and the browser sent
/// on.
async fn choose(
    p: &Provider,
    headers: &HeaderMap,
    (client, target, visitor): (&Client, &str, &str),
    (idps, chosen): (&[IdentityProvider], &str),
) -> HttpResult<Response> {
    let cross_site = headers
        .get_all("sec-fetch-site")
        .iter()
        .any(|v| !matches!(v.to_str(), Ok("same-origin" | "none")));
    if cross_site {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "a choice must be made on this provider's page",
        ));
    }
    let Some(idp) = idps.iter().find(|i| i.idp_id == chosen) else {
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
    Ok(initiate(target, idp))
}

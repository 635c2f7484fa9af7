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
//! A choice is remembered under the hash of client, visitor id and this browser's selector cookie (random, 30
//! days, only its hash kept): a visitor id alone (chosen by the relying party's page, and seen by others) does
//! not reveal or replay anyone's choice. A choice's link carries a token bound to that cookie, and one followed
//! from another site (`Sec-Fetch-Site`) is refused: another site cannot plant a choice.
//!
//! Must not: send a browser anywhere but the client's registered `initiate_login_uri`, or offer a provider that
//! is not configured.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::Params;

use super::federation::{IdentityProvider, identity_providers};
use crate::clients::Client;
use crate::http::cookies::cookie;
use crate::http::csrf;
use crate::http::{self, HttpResult, db, error_page};
use crate::provider::Provider;
use crate::{hash, now, pages, random_token};

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

/// The selector's cookie over plain HTTP (development on loopback).
pub const SELECTOR_COOKIE: &str = "portcullis_selector";
/// Its name over HTTPS (`__Host-`: Secure, `Path=/`, no `Domain`).
pub const SELECTOR_COOKIE_SECURE: &str = "__Host-portcullis_selector";

/// This browser's selector cookie: a random value (43 characters) that lives as long as a remembered choice.
/// Only its hash is stored (in the key of a choice).
struct SelectorBrowser {
    value: String,
    new: bool,
}

impl SelectorBrowser {
    fn name(secure: bool) -> &'static str {
        if secure {
            SELECTOR_COOKIE_SECURE
        } else {
            SELECTOR_COOKIE
        }
    }

    fn existing(headers: &HeaderMap, secure: bool) -> Option<SelectorBrowser> {
        cookie(headers, Self::name(secure))
            .filter(|v| {
                v.len() == 43
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(|v| SelectorBrowser {
                value: v.to_owned(),
                new: false,
            })
    }

    fn of(headers: &HeaderMap, secure: bool) -> SelectorBrowser {
        Self::existing(headers, secure).unwrap_or_else(|| SelectorBrowser {
            value: random_token(),
            new: true,
        })
    }

    /// The key a choice of `client`'s `visitor` in this browser is remembered under.
    fn choice_key(&self, client: &str, visitor: &str) -> String {
        hash(&format!("choice\n{client}\n{visitor}\n{}", self.value))
    }

    /// The token the page's links carry: only a page shown to this browser has it.
    fn link_token(&self, client: &str, visitor: &str) -> String {
        hash(&format!("link\n{client}\n{visitor}\n{}", self.value))
    }

    fn set_cookie(&self, resp: &mut Response, secure: bool) {
        if !self.new {
            return;
        }
        let attrs = if secure { "; Secure" } else { "" };
        let v = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={REMEMBER_FOR}{attrs}",
            Self::name(secure),
            self.value
        );
        if let Ok(h) = HeaderValue::from_str(&v) {
            resp.headers_mut().append(header::SET_COOKIE, h);
        }
    }
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
    let secure = p.secure_cookies();
    if let Some(chosen) = params.get("idp_id") {
        let token = params.get("t").unwrap_or("");
        return choose(
            p,
            headers,
            (&client, &target, visitor),
            (&idps, chosen, token),
        )
        .await;
    }
    let browser = SelectorBrowser::of(headers, secure);
    let reselect = params.get("prompt") == Some("select_account");
    if !visitor.is_empty() && !reselect && !browser.new {
        let key = browser.choice_key(&client.id, visitor);
        if let Some(chosen) = p.store.selector_choice(&key, now()).await.map_err(db)?
            && let Some(idp) = idps.iter().find(|i| i.idp_id == chosen)
        {
            return Ok(initiate(&target, idp));
        }
    }
    if idps.is_empty() {
        return Err(bad("no identity providers are configured"));
    }
    let token = browser.link_token(&client.id, visitor);
    let list: Vec<(String, String, String)> = idps
        .iter()
        .map(|i| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &client.id)
                .append_pair("visitor_id", visitor)
                .append_pair("idp_id", &i.idp_id)
                .append_pair("t", &token)
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
    browser.set_cookie(&mut resp, secure);
    Ok(resp)
}

/// A choice from the page (its link carries the token bound to this browser's selector cookie): remembered when
/// there is a visitor id, and the browser sent on.
async fn choose(
    p: &Provider,
    headers: &HeaderMap,
    (client, target, visitor): (&Client, &str, &str),
    (idps, chosen, token): (&[IdentityProvider], &str, &str),
) -> HttpResult<Response> {
    let forbidden = || {
        error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "a choice must be made on this provider's page",
        )
    };
    let cross_site = headers
        .get_all("sec-fetch-site")
        .iter()
        .any(|v| !matches!(v.to_str(), Ok("same-origin" | "none")));
    let browser = SelectorBrowser::existing(headers, p.secure_cookies());
    let Some(browser) = browser.filter(|_| !cross_site) else {
        return Err(forbidden());
    };
    if !csrf::tokens_match(&browser.link_token(&client.id, visitor), token) {
        return Err(forbidden());
    }
    let Some(idp) = idps.iter().find(|i| i.idp_id == chosen) else {
        return Err(bad("no such identity provider"));
    };
    if !visitor.is_empty() {
        let key = browser.choice_key(&client.id, visitor);
        p.store
            .put_selector_choice(&key, &idp.idp_id, now() + REMEMBER_FOR)
            .await
            .map_err(db)?;
    }
    Ok(initiate(target, idp))
}

//! Registration started by a relying party (OpenID Connect Prompt Create 1.0, seed 000's flow): its backend
//! signs an authorization request with `prompt=create` and its own identifier for the user in `login_hint`;
//! the provider shows "create a passkey", stores the passkey and a new account, signs the user in, and the
//! authorization goes on (consent, code).
//!
//! An account is per relying party: (client, its identifier) names one user, kept in `rp_accounts`. A request
//! naming an identifier that already has an account does not create another: the user signs in with the
//! account's passkey instead, so nobody can attach their passkey to someone else's account.
//!
//! The request's signature is checked when it arrives (`authorize::request::establish`: an unsigned or forged
//! registration request gets an error page). The ceremony state is server-side (single use, bound to the
//! pending request, the browser and this purpose, expiring).
//!
//! Must not: create an account for an unsigned request, or a second account for one identifier; attach a
//! passkey to an existing account.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::ErrorCode;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::authorize::consent::{after_login, pending_for};
use super::authorize::request::Validated;
use super::authorize::{MAX_STORED_REQUEST, PENDING_LIFETIME};
use super::interaction::pending_from_form;
use crate::authn::passkey::{MAX_ASSERTION, Registration, SYNCED};
use crate::authn::{AuthRecord, ceremony};
use crate::http::binding::BrowserBinding;
use crate::http::{self, HttpResult, db, error_page};
use crate::provider::Provider;
use crate::store::{PendingRow, UserRow};
use crate::templates::{RegisterPage, render};
use crate::{now, random_token};

/// The provider's username of the account a client created for its identifier `hint`: the client id's length
/// first, so that no two (client, identifier) pairs give one name (client ids may contain `:`).
pub fn account_username(client_id: &str, hint: &str) -> String {
    format!("{}:{client_id}:{hint}", client_id.len())
}

/// The (client, identifier) of an [`account_username`], for showing the account to its user; `None` for any
/// other username.
pub fn account_of_username(username: &str) -> Option<(&str, &str)> {
    let (len, rest) = username.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let client = rest.get(..len)?;
    let hint = rest.get(len..)?.strip_prefix(':')?;
    Some((client, hint))
}

/// The purpose a registration ceremony is bound to.
const PURPOSE: &str = "passkey-register";

fn bad(d: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, "invalid_request", d)
}

/// The step of the authorization pipeline for `prompt=create`: the registration page, or — when the relying
/// party's identifier names an account already — the login page (the user signs in to it).
pub(crate) async fn start(
    p: &Provider,
    v: &Validated,
    headers: &HeaderMap,
) -> HttpResult<Response> {
    let Some(passkeys) = &p.passkeys else {
        return Ok(p.auth_error(
            &v.error_target(),
            ErrorCode::InvalidRequest,
            "this provider does not offer passkeys, so it cannot create accounts",
        ));
    };
    let Some(hint) = v.req.login_hint.as_deref().filter(|h| !h.is_empty()) else {
        return Ok(p.auth_error(
            &v.error_target(),
            ErrorCode::InvalidRequest,
            "prompt=create needs the relying party's identifier for the user in login_hint",
        ));
    };
    let t = now();
    if p.store
        .rp_account(&v.client.id, hint)
        .await
        .map_err(db)?
        .is_some()
    {
        return crate::endpoints::login::first_page(p, v, headers, t).await;
    }
    let browser = BrowserBinding::of(headers, p.secure_cookies());
    let row = PendingRow {
        kind: "register".into(),
        ..pending_for(v, t, &browser)
    };
    if row.params.len() > MAX_STORED_REQUEST {
        return Ok(p.auth_error(
            &v.error_target(),
            ErrorCode::InvalidRequest,
            "the request is too large to keep while the user registers",
        ));
    }
    p.store.put_pending(&row).await.map_err(db)?;
    let registration = passkeys.start_registration_new(hint).map_err(db)?;
    let state = serde_json::to_string(&registration)
        .map_err(|_| bad("the registration could not be started"))?;
    let Ok(ceremony) = ceremony::begin(&p.store, &row, PURPOSE, &state)
        .await
        .map_err(db)?
    else {
        return Err(bad("the registration could not be started"));
    };
    let options = serde_json::to_string(&registration.options)
        .map_err(|_| bad("the registration could not be started"))?;
    let page = render(&RegisterPage {
        pending: &row.id,
        csrf: &row.csrf,
        ceremony: &ceremony,
        client_name: &v.client.name,
        account: hint,
        options: &options,
    });
    let mut resp = http::html_csp(StatusCode::OK, page, &http::form_page_csp(&v.redirect_uri));
    browser.set_cookie(&mut resp, p.secure_cookies());
    Ok(resp)
}

/// `POST /register`: the new passkey. The account is created, the user signed in, and the authorization goes
/// on.
pub async fn register(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    register_inner(&p, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn register_inner(p: &Provider, headers: &HeaderMap, body: Body) -> HttpResult<Response> {
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let (row, v) = pending_from_form(p, &form, &["register"], headers).await?;
    let Some(passkeys) = &p.passkeys else {
        return Err(bad("this provider does not offer passkeys"));
    };
    let Some(hint) = v.req.login_hint.clone().filter(|h| !h.is_empty()) else {
        return Err(bad("the registration names no account"));
    };
    let Some(id) = form.get("ceremony") else {
        return Err(bad("the registration names no ceremony"));
    };
    let Ok(state) = ceremony::finish(&p.store, id, &row, PURPOSE)
        .await
        .map_err(db)?
    else {
        return Err(bad(
            "the registration expired or was already used; start again from the application",
        ));
    };
    let registration: Registration =
        serde_json::from_str(&state).map_err(|_| bad("the registration state is damaged"))?;
    let answer = form
        .get("credential")
        .filter(|c| c.len() <= MAX_ASSERTION)
        .and_then(|c| serde_json::from_str::<RegisterPublicKeyCredential>(c).ok());
    let Some(passkey) = answer.and_then(|a| passkeys.verify_registration(&registration, &a)) else {
        return Err(bad(
            "the passkey was not created; start again from the application",
        ));
    };
    // The pending request is answered once.
    if !p.store.take_pending(&row.id).await.map_err(db)? {
        return Err(bad("request already completed"));
    }
    let t = now();
    let user = UserRow {
        id: random_token()[..22].to_owned(),
        username: account_username(&v.client.id, &hint),
        // Passkey only: no password verifies against an empty hash.
        password_hash: String::new(),
        claims: "{}".into(),
        consent_withdrawn_at: None,
    };
    let row_of_passkey = passkeys
        .passkey_row(&user.id, &registration, &passkey, "passkey", t)
        .map_err(db)?;
    // The user, the (client, identifier) mapping and the passkey: all or nothing.
    if !p
        .store
        .create_passkey_account(&user, &v.client.id, &hint, &row_of_passkey, t)
        .await
        .map_err(db)?
    {
        return Err(bad(
            "this account or this passkey exists already; sign in instead",
        ));
    }
    let (token, session) = p
        .start_session(
            &user.id,
            // A synced passkey is recorded as such (its `amr` says `swk`).
            &AuthRecord::single(
                if row_of_passkey.backup_eligible {
                    SYNCED
                } else {
                    "passkey"
                },
                t,
            ),
            random_token(),
            None,
            t,
        )
        .await?;
    let arrival = row.expires_at - PENDING_LIFETIME;
    let fresh = PendingRow {
        id: random_token(),
        csrf: random_token(),
        kind: "authorize".into(),
        ..row
    };
    let mut resp = after_login(p, v, session, None, Some(fresh), arrival, headers).await?;
    if let Ok(h) = HeaderValue::from_str(&http::session_cookie(
        &token,
        p.cfg.session_lifetime,
        p.secure_cookies(),
    )) {
        resp.headers_mut().append(header::SET_COOKIE, h);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_usernames_give_back_their_client_and_identifier() {
        for (client, hint) in [("shop", "alice"), ("a:b", "c"), ("x", "d:e"), ("é", "ü")] {
            let name = account_username(client, hint);
            assert_eq!(account_of_username(&name), Some((client, hint)), "{name}");
        }
        for other in [
            "alice",
            "4:shop",
            "9:shop:alice",
            "x:shop:alice",
            "",
            "1:é:x",
        ] {
            assert_eq!(account_of_username(other), None, "{other}");
        }
    }
}

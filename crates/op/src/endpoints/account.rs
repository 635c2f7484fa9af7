//! The account page (`/account`): the applications the user consented to (withdrawn in [`super::account_apps`]),
//! and the signed-in user's passkeys — name, created, last used, synced or
//! device-bound — with adding one (a registration ceremony, like [`super::register`]'s, for the session's
//! user), renaming and removing. A password user adds a passkey here and can then sign in with either.
//!
//! Every change needs the session's cookie, a form posted from this site, and a CSRF token only the provider can
//! make for that session (its session id sealed under the provider's secret-sealing key: a relying party, which
//! knows the `sid`, cannot forge one); adding or removing a way to sign in also needs a sign-in within
//! [`RECENT_SIGN_IN`] seconds, and removing a passkey ends the user's other sessions. The ceremony state is
//! server-side (single use, bound to the browser and the session, expiring); beginning one is rate limited per
//! address like login pages.
//!
//! Once the user has a step-up factor, adding or removing a passkey also needs a recent pass of one of them
//! (`super::account_factors`): a passkey passes for a factor, so a stolen password must not add one.
//!
//! Must not: change another user's passkeys, remove the user's last way to sign in, or show a page to a browser
//! without a session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::Params;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::authorize::{now_millis, too_many_pages};
use crate::authn::ceremony;
use crate::authn::passkey::{MAX_ASSERTION, Registration};
use crate::authn::throttle::RetryAfter;
use crate::http::binding::{BrowserBinding, same_site_form};
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, csrf, db, error_page};
use crate::provider::Provider;
use crate::store::{PendingRow, Removal, SessionRow, UserRow};
use crate::templates::{AccountPage, AccountPasskeyPage, PasskeyItem, render};
use crate::{now, random_token};

/// How recent a sign-in must be to add or remove a way to sign in, seconds.
pub const RECENT_SIGN_IN: i64 = 600;
/// The longest passkey name, characters.
pub const MAX_NAME: usize = 64;
/// The purpose an account ceremony is bound to.
const PURPOSE: &str = "passkey-add";
/// The pending kind that holds an account ceremony.
const KIND: &str = "account";
/// What the account page's CSRF tokens are sealed for (the associated data).
const CSRF_PURPOSE: &str = "account-page-csrf";

/// A CSRF token for `session`'s account forms: its `sid`, sealed (AES-GCM) under the provider's key.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
pub(crate) fn csrf_token(p: &Provider, session: &SessionRow) -> HttpResult<String> {
    p.sealer.seal(CSRF_PURPOSE, &session.sid).map_err(db)
}

/// Whether `token` was made by [`csrf_token`] for `session`.
fn csrf_ok(p: &Provider, session: &SessionRow, token: &str) -> bool {
    token.len() <= 512
        && p.sealer
            .open(CSRF_PURPOSE, token)
            .is_some_and(|sid| csrf::tokens_match(&session.sid, &String::from_utf8_lossy(&sid)))
}

/// The signed-in browser: its session's cookie hash, the session and its user.
pub(crate) struct SignedIn {
    pub(crate) hash: String,
    pub(crate) session: SessionRow,
    pub(crate) user: UserRow,
}

pub(crate) fn page_csp() -> String {
    http::form_page_csp("")
}

fn when(t: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
    httpdate::fmt_http_date(t)
}

/// The session's user, or a 401 page.
pub(crate) async fn signed_in(p: &Provider, headers: &HeaderMap) -> HttpResult<SignedIn> {
    let no = || {
        error_page(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "sign in through an application first, then come back to this page",
        )
    };
    let Some((hash, session)) = p.current_session(headers).await? else {
        return Err(no());
    };
    let user = p
        .store
        .user(&session.user_id)
        .await
        .map_err(db)?
        .ok_or_else(no)?;
    Ok(SignedIn {
        hash,
        session,
        user,
    })
}

/// A change posted from the account page: same site, the session's user, its CSRF token.
pub(crate) async fn change(
    p: &Provider,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<(SignedIn, Params)> {
    same_site_form(headers, &p.issuer_origin())?;
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let who = signed_in(p, headers).await?;
    if !csrf_ok(p, &who.session, form.get("csrf").unwrap_or_default()) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this form belongs to another session; open the account page again",
        ));
    }
    Ok((who, form))
}

#[allow(clippy::result_large_err)] // the error is the response, built once per request
pub(crate) fn recent(session: &SessionRow) -> HttpResult<()> {
    if now() - session.auth_time > RECENT_SIGN_IN {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "login_required",
            "changing how you sign in needs a recent sign-in; sign in again through an application",
        ));
    }
    Ok(())
}

/// The account page, with `message` and `status`.
pub(crate) async fn show(
    p: &Provider,
    session: &SessionRow,
    user: &UserRow,
    message: Option<&str>,
    status: StatusCode,
) -> HttpResult<Response> {
    let items: Vec<PasskeyItem> = p
        .store
        .passkeys_of(&user.id)
        .await
        .map_err(db)?
        .into_iter()
        .map(|k| PasskeyItem {
            kind: if k.attested {
                "attested"
            } else if k.backup_eligible {
                "synced"
            } else {
                "device-bound"
            },
            created: when(k.created_at),
            last_used: k.last_used_at.map_or_else(|| "never".into(), when),
            suspect: k.suspect_clone,
            id: k.credential_id,
            name: k.name,
        })
        .collect();
    let apps = super::account_apps::apps_of(p, &user.id).await?;
    let csrf = csrf_token(p, session)?;
    // An account a relying party created shows as its identifier there.
    let shown = match super::register::account_of_username(&user.username) {
        Some((client, hint)) => format!("{hint} (at {client})"),
        None => user.username.clone(),
    };
    let page = render(&AccountPage {
        username: &shown,
        attestation: p.passkeys.as_ref().is_some_and(|k| k.offers_attestation()),
        has_password: !user.password_hash.is_empty(),
        passkeys: &items,
        apps: &apps,
        csrf: &csrf,
        message,
    });
    Ok(http::html_csp(status, page, &page_csp()))
}

/// `GET /account`.
pub async fn account(State(p): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    async {
        let who = signed_in(&p, &headers).await?;
        show(&p, &who.session, &who.user, None, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|r| r)
}

/// Invisible characters that reorder or hide text (bidirectional controls, zero-width and format characters):
/// a name must not look like another.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}')
}

/// A valid passkey name: trimmed, 1 to [`MAX_NAME`] characters, no control or invisible characters.
fn valid_name(name: &str) -> Option<&str> {
    let name = name.trim();
    let bad = |c: char| c.is_control() || is_invisible(c);
    (!name.is_empty() && name.chars().count() <= MAX_NAME && !name.chars().any(bad)).then_some(name)
}

/// `POST /account/passkeys/rename`.
pub async fn rename(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    async {
        let (SignedIn { session, user, .. }, form) = change(&p, &headers, body).await?;
        let Some(name) = form.get("name").and_then(valid_name) else {
            let m = "A name is 1 to 64 characters.";
            return show(&p, &session, &user, Some(m), StatusCode::BAD_REQUEST).await;
        };
        let id = form.get("id").unwrap_or_default();
        if !p
            .store
            .rename_passkey(&user.id, id, name)
            .await
            .map_err(db)?
        {
            return show(
                &p,
                &session,
                &user,
                Some("No such passkey."),
                StatusCode::NOT_FOUND,
            )
            .await;
        }
        Ok(http::redirect("/account"))
    }
    .await
    .unwrap_or_else(|r| r)
}

/// `POST /account/passkeys/remove`.
pub async fn remove(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (who, form) = change(&p, &headers, body).await?;
        recent(&who.session)?;
        super::account_factors::require_factor_pass(&p, &who).await?;
        let SignedIn {
            hash,
            session,
            user,
        } = who;
        let id = form.get("id").unwrap_or_default();
        match p.store.remove_passkey(&user.id, id).await.map_err(db)? {
            Removal::Removed => {
                crate::audit::Audit {
                    kind: "passkey_removed",
                    outcome: "success",
                    user_id: Some(&user.id),
                    address: Some(ip),
                    detail: id,
                    ..Default::default()
                }
                .record(&p.store)
                .await;
                // Whoever signed in elsewhere (with the removed passkey, say) is signed out; this browser stays.
                p.store
                    .delete_user_sessions_except(&user.id, &hash)
                    .await
                    .map_err(db)?;
                Ok(http::redirect("/account"))
            }
            Removal::NotFound => {
                show(
                    &p,
                    &session,
                    &user,
                    Some("No such passkey."),
                    StatusCode::NOT_FOUND,
                )
                .await
            }
            Removal::LastWayToSignIn => {
                let m = "This passkey is your last way to sign in: add another first.";
                show(&p, &session, &user, Some(m), StatusCode::CONFLICT).await
            }
        }
    }
    .await
    .unwrap_or_else(|r| r)
}

/// `POST /account/passkeys/new`: the create-a-passkey page for the session's user.
pub async fn new_passkey(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (who, form) = change(&p, &headers, body).await?;
        recent(&who.session)?;
        super::account_factors::require_factor_pass(&p, &who).await?;
        let SignedIn { session, user, .. } = who;
        if let Err(RetryAfter(secs)) = p.throttle.allow_work(ip, now_millis()) {
            return Err(too_many_pages(secs));
        }
        let Some(passkeys) = &p.passkeys else {
            return Err(error_page(
                StatusCode::NOT_FOUND,
                "invalid_request",
                "this provider does not offer passkeys",
            ));
        };
        let browser = BrowserBinding::of(&headers, p.secure_cookies());
        let t = now();
        let row = PendingRow {
            id: random_token(),
            kind: KIND.into(),
            client_id: String::new(),
            params: Params::from_pairs([("sid", session.sid.as_str().into())]).to_form(),
            csrf: csrf_token(&p, &session)?,
            expires_at: t + ceremony::LIFETIME,
            browser: browser.hash(),
        };
        p.store.put_pending(&row).await.map_err(db)?;
        // "Add a security key": an attested registration, when attestation CAs are configured.
        let registration = if form.get("kind") == Some("attested") {
            passkeys
                .start_attested_registration(&p.store, &user)
                .await
                .map_err(db)?
                .ok_or_else(|| {
                    error_page(
                        StatusCode::NOT_FOUND,
                        "invalid_request",
                        "this provider does not register attested passkeys",
                    )
                })?
        } else {
            passkeys
                .start_registration(&p.store, &user)
                .await
                .map_err(db)?
        };
        let failed = || {
            error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the passkey could not be started",
            )
        };
        let state = serde_json::to_string(&registration).map_err(|_| failed())?;
        let Ok(id) = ceremony::begin(&p.store, &row, PURPOSE, &state)
            .await
            .map_err(db)?
        else {
            return Err(failed());
        };
        let options = serde_json::to_string(&registration.options).map_err(|_| failed())?;
        let page = render(&AccountPasskeyPage {
            username: &user.username,
            pending: &row.id,
            csrf: &row.csrf,
            ceremony: &id,
            options: &options,
        });
        let mut resp = http::html_csp(StatusCode::OK, page, &page_csp());
        browser.set_cookie(&mut resp, p.secure_cookies());
        Ok(resp)
    }
    .await
    .unwrap_or_else(|r| r)
}

/// `POST /account/passkeys`: the new passkey, stored for the session's user.
pub async fn add_passkey(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (who, form) = change(&p, &headers, body).await?;
        recent(&who.session)?;
        super::account_factors::require_factor_pass(&p, &who).await?;
        let SignedIn { session, user, .. } = who;
        let bad = |d: &str| error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
        let Some(passkeys) = &p.passkeys else {
            return Err(bad("this provider does not offer passkeys"));
        };
        // The ceremony's holder: this session's, from this browser.
        let holder = p
            .store
            .pending(form.get("pending").unwrap_or_default(), KIND, now())
            .await
            .map_err(db)?
            .filter(|r| csrf::tokens_match(&r.csrf, form.get("csrf").unwrap_or_default()))
            .filter(|r| {
                BrowserBinding::existing(&headers, p.secure_cookies())
                    .is_some_and(|b| b.matches(&r.browser))
            })
            .filter(|r| {
                Params::parse(&r.params).is_ok_and(|q| q.get("sid") == Some(session.sid.as_str()))
            });
        let Some(row) = holder else {
            return Err(bad(
                "this passkey was started elsewhere or expired; open the account page again",
            ));
        };
        let state = match ceremony::finish(
            &p.store,
            form.get("ceremony").unwrap_or_default(),
            &row,
            PURPOSE,
        )
        .await
        .map_err(db)?
        {
            Ok(s) => s,
            Err(_) => {
                return Err(bad(
                    "this passkey was already created or expired; open the account page again",
                ));
            }
        };
        p.store.take_pending(&row.id).await.map_err(db)?;
        let registration: Registration =
            serde_json::from_str(&state).map_err(|_| bad("the passkey state is damaged"))?;
        let answer = form
            .get("credential")
            .filter(|c| c.len() <= MAX_ASSERTION)
            .and_then(|c| serde_json::from_str::<RegisterPublicKeyCredential>(c).ok());
        let name = form.get("name").and_then(valid_name).unwrap_or("passkey");
        let stored = match answer {
            Some(a) => passkeys
                .finish_registration(&p.store, &user, &registration, &a, name, now())
                .await
                .map_err(db)?,
            None => false,
        };
        if !stored {
            let m = "The passkey was not created.";
            return show(&p, &session, &user, Some(m), StatusCode::BAD_REQUEST).await;
        }
        crate::audit::Audit {
            kind: "passkey_added",
            outcome: "success",
            user_id: Some(&user.id),
            address: Some(ip),
            detail: name,
            ..Default::default()
        }
        .record(&p.store)
        .await;
        Ok(http::redirect("/account"))
    }
    .await
    .unwrap_or_else(|r| r)
}

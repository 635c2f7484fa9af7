//! Who may change the account's step-up factors, and what follows a change: a recent sign-in and, once the user
//! has a factor, a recent pass of one of them ([`may_change`]); afterwards the user's other sessions end and the
//! verified address they had and have is told ([`changed`]).
//!
//! Must not: change a factor itself (the handlers in the parent module do).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_factor::Factor;
use portcullis_oidc::Params;

use super::show;
use crate::delivery::Message;
use crate::endpoints::account::{RECENT_SIGN_IN, SignedIn, change, recent};
use crate::http::{self, HttpResult, db};
use crate::now;
use crate::provider::Provider;

/// The user's confirmed step-up factors, and a passkey when the user has one: what the page asks one of
/// before a change.
pub(super) async fn confirmed_factors(p: &Provider, who: &SignedIn) -> HttpResult<Vec<Factor>> {
    let mut out: Vec<Factor> = p
        .store
        .factor_kinds(&who.user.id)
        .await
        .map_err(db)?
        .iter()
        .filter_map(|(k, _)| Factor::from_key(k))
        .collect();
    let has_passkey = p.methods.get("passkey").is_some()
        && !p
            .store
            .passkeys_of(&who.user.id)
            .await
            .map_err(db)?
            .is_empty();
    if !out.is_empty() && has_passkey {
        out.push(Factor::Passkey);
    }
    Ok(out)
}

/// Whether the session may change the user's factors now: the user has none yet, or the session passed one
/// of them (or a passkey) within [`RECENT_SIGN_IN`] seconds. Otherwise the first factor alone (a stolen
/// password) could replace them.
pub(crate) async fn may_change(p: &Provider, who: &SignedIn) -> HttpResult<bool> {
    if confirmed_factors(p, who).await?.is_empty() {
        return Ok(true);
    }
    let since = now() - RECENT_SIGN_IN;
    Ok(p.session_record(&who.session).steps().iter().any(|s| {
        s.at >= since
            && p.methods
                .recorded(&s.method)
                .is_some_and(|m| !m.first_factor() || m.id() == "passkey")
    }))
}

/// For the account page's other changes (adding or removing a passkey): the refusal when the user has a step-up
/// factor and the session has not passed one recently — a stolen password must not add a passkey that then
/// passes for a factor.
pub(crate) async fn require_factor_pass(p: &Provider, who: &SignedIn) -> HttpResult<()> {
    if may_change(p, who).await? {
        return Ok(());
    }
    Err(http::error_page(
        StatusCode::FORBIDDEN,
        "login_required",
        "confirm it's you with one of your step-up factors first: open /account/factors/confirm",
    ))
}

/// A change posted from the factors page: the account page's checks ([`change`]), then [`allowed`]; a refusal is
/// the error (the page with its message).
pub(super) async fn permitted(
    p: &Provider,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<(SignedIn, Params)> {
    let (who, form) = change(p, headers, body).await?;
    match allowed(p, &who).await? {
        Some(refused) => Err(refused),
        None => Ok((who, form)),
    }
}

/// A change: the account page's checks, a recent sign-in, and a recent pass of one of the user's factors.
pub(super) async fn allowed(p: &Provider, who: &SignedIn) -> HttpResult<Option<Response>> {
    recent(&who.session)?;
    if may_change(p, who).await? {
        return Ok(None);
    }
    let m =
        "Confirm it's you with one of your factors first (the link above), then make the change.";
    Ok(Some(
        show(p, who, Some(m), None, StatusCode::FORBIDDEN).await?,
    ))
}

/// After a change: the user's other sessions end (whoever else was signed in must sign in again).
pub(super) async fn changed(
    p: &Provider,
    who: &SignedIn,
    what: &str,
    (email_before, ip): (Option<String>, std::net::IpAddr),
) -> HttpResult<()> {
    p.store
        .delete_user_sessions_except(&who.user.id, &who.hash)
        .await
        .map_err(db)?;
    crate::audit::Audit {
        kind: "account_change",
        outcome: "success",
        user_id: Some(&who.user.id),
        address: Some(ip),
        detail: what,
        ..Default::default()
    }
    .record(&p.store)
    .await;
    notify(p, who, what, email_before).await
}

/// The user's verified e-mail address, if any (before a change: where to tell them about it).
pub(super) async fn enrolled_email(p: &Provider, who: &SignedIn) -> HttpResult<Option<String>> {
    Ok(p.store
        .factor(&who.user.id, "email")
        .await
        .map_err(db)?
        .map(|f| f.secret.to_string()))
}

/// Tells the user about a change of their factors, at the verified address they had before it and the one they
/// have now: someone who took over the session cannot change them unnoticed. A failed send is logged, and does
/// not undo the change.
async fn notify(
    p: &Provider,
    who: &SignedIn,
    what: &str,
    email_before: Option<String>,
) -> HttpResult<()> {
    let now_email = enrolled_email(p, who).await?;
    let mut to: Vec<String> = email_before.into_iter().collect();
    if let Some(e) = now_email
        && !to.contains(&e)
    {
        to.push(e);
    }
    for address in to {
        let m = Message {
            to: address,
            subject: "Your sign-in factors changed".into(),
            body: format!(
                "{what} for your account {} at {}. If this was not you, sign in and review your factors at \
                 {}/account/factors, and tell your administrator.",
                who.user.username, p.cfg.issuer, p.cfg.issuer
            ),
        };
        if let Err(e) = p.delivery.mail.send(&m).await {
            tracing::warn!("a factor-change notice could not be sent: {e}");
        }
    }
    Ok(())
}

//! The account's step-up factors (`/account/factors`): set up an authenticator app (its `otpauth://` URI shown as
//! a QR code and as text, confirmed with a first code), verify an e-mail address and a phone number (each by a
//! code sent there), set a second password, and remove any of them.
//!
//! The account page's rules hold here ([`super::account`]): the session's cookie, a same-site form, the
//! session-bound CSRF token; and every change needs a sign-in within [`super::account::RECENT_SIGN_IN`]
//! seconds and — once the user has a factor — a pass of one of the user's factors within that time
//! (`/account/factors/confirm`: the step-up pages of [`super::factor`]), so that a stolen password alone cannot
//! replace them. A change ends the user's other sessions. A factor counts only once confirmed: an app set-up
//! not confirmed, or an address whose code was not typed, proves nothing.
//!
//! Must not: change another user's factors, send codes to more than one new destination per
//! [`RESEND_AFTER`] seconds, or keep a second password equal to the password.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::account::{SignedIn, csrf_token, page_csp, signed_in};
use super::authorize::{now_millis, too_many_pages};
use super::factor::{self, Ask, Target};
use crate::authn::factors::code::{NotSent, Sent, check_code, send_code};
use crate::authn::factors::{Channel, RESEND_AFTER, app, masked, second_password};
use crate::authn::throttle::RetryAfter;
use crate::factor_pages::{AccountFactorsPage, AppSetup, ChannelItem, qr_svg};
use crate::http::client_addr::ClientIp;
use crate::http::{self, HttpResult, db};
use crate::now;
use crate::provider::Provider;
use crate::store::CodeCheck;
use crate::templates::render;

mod guard;

use guard::{changed, confirmed_factors, enrolled_email, permitted};
pub(crate) use guard::{may_change, require_factor_pass};

/// The kinds a user may remove.
const REMOVABLE: [&str; 4] = ["mobile_app", "email", "sms", "second_password"];

/// The page, with `message`, an app set-up to show, and `status`.
pub(super) async fn show(
    p: &Provider,
    who: &SignedIn,
    message: Option<&str>,
    setup: Option<AppSetup>,
    status: StatusCode,
) -> HttpResult<Response> {
    let user = &who.user;
    let kinds = p.store.factor_kinds(&user.id).await.map_err(db)?;
    let has = |k: &str| kinds.iter().any(|(kind, _)| kind == k);
    let t = now();
    let mut channels = Vec::new();
    for (channel, title, input_label, input_type) in [
        (Channel::Email, "E-mail", "New e-mail address", "email"),
        (
            Channel::Sms,
            "Phone",
            "New phone number (international form, +15551234567)",
            "tel",
        ),
    ] {
        let current = p
            .store
            .factor(&user.id, channel.id())
            .await
            .map_err(db)?
            .map(|f| masked(&f.secret));
        let verifying = p
            .store
            .sent_code(&user.id, channel.enrol_purpose(), t)
            .await
            .map_err(db)?
            .map(|s| masked(&s.destination));
        channels.push(ChannelItem {
            id: channel.id(),
            title,
            input_label,
            input_type,
            current,
            verifying,
        });
    }
    let csrf = csrf_token(p, &who.session)?;
    let needs_confirm = !may_change(p, who).await?;
    let html = render(&AccountFactorsPage {
        needs_confirm,
        username: &user.username,
        message,
        csrf: &csrf,
        has_app: has("mobile_app"),
        setup,
        channels: &channels,
        has_second_password: has("second_password"),
    });
    Ok(http::html_csp(status, html, &page_csp()))
}

/// `GET /account/factors`.
pub async fn page(State(p): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    async {
        let who = signed_in(&p, &headers).await?;
        show(&p, &who, None, None, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|r| r)
}

/// The set-up the user began (its seed shown again, as URI and QR code).
async fn pending_setup(p: &Provider, who: &SignedIn) -> HttpResult<Option<AppSetup>> {
    let Some(f) = p
        .store
        .factor(&who.user.id, "mobile_app-setup")
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let issuer = url::Url::parse(&p.cfg.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Portcullis".into());
    let Some(uri) = app::otpauth_uri(&f.secret, &issuer, &who.user.username) else {
        return Ok(None);
    };
    Ok(Some(AppSetup {
        qr_svg: qr_svg(&uri).unwrap_or_default(),
        secret: f.secret.to_string(),
        uri,
    }))
}

/// `POST /account/factors/app`: a fresh seed, shown until confirmed.
pub async fn setup_app(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    async {
        let (who, _) = permitted(&p, &headers, body).await?;
        let seed = app::new_seed().map_err(|e| db(crate::StoreError::Corrupt(e)))?;
        p.store
            .put_factor(&who.user.id, "mobile_app-setup", &seed, now())
            .await
            .map_err(db)?;
        let setup = pending_setup(&p, &who).await?;
        show(&p, &who, None, setup, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|r| r)
}

/// `POST /account/factors/app/confirm`: the first code makes the set-up the user's authenticator app.
pub async fn confirm_app(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (who, form) = permitted(&p, &headers, body).await?;
        let Some(setup) = p
            .store
            .factor(&who.user.id, "mobile_app-setup")
            .await
            .map_err(db)?
        else {
            let m = "No set-up to confirm; start it again.";
            return show(&p, &who, Some(m), None, StatusCode::BAD_REQUEST).await;
        };
        let code = form.get("code").unwrap_or("").trim();
        let t = now();
        let confirmed = match app::matching_step(&setup.secret, code, t) {
            Some(step) => p
                .store
                .confirm_app_setup(&who.user.id, &setup.secret, step, t)
                .await
                .map_err(db)?,
            None => false,
        };
        if !confirmed {
            let setup = pending_setup(&p, &who).await?;
            let m = "Wrong code. Type the code your app shows now.";
            return show(&p, &who, Some(m), setup, StatusCode::BAD_REQUEST).await;
        }
        let before = enrolled_email(&p, &who).await?;
        changed(&p, &who, "An authenticator app was set up", (before, ip)).await?;
        show(
            &p,
            &who,
            Some("Authenticator app set up."),
            None,
            StatusCode::OK,
        )
        .await
    }
    .await
    .unwrap_or_else(|r| r)
}

/// An e-mail address a code may be sent to: one `Mailbox` address, at most 254 bytes, nothing around it.
fn valid_email(s: &str) -> bool {
    s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.parse::<lettre::Address>().is_ok()
}

/// A phone number in international form, spaces and dashes dropped: `+` and 8 to 15 digits.
fn normal_phone(s: &str) -> Option<String> {
    let n: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = n.strip_prefix('+')?;
    ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(n)
}

/// Sends a verification code for a new destination of `channel`.
async fn send(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: Body,
    channel: Channel,
) -> HttpResult<Response> {
    // Sending costs (a mail, a text): at the login-page rate per address, on top of the per-user quota.
    if let Err(RetryAfter(secs)) = p.throttle.allow_work(ip, now_millis()) {
        return Ok(too_many_pages(secs));
    }
    let (who, form) = permitted(p, headers, body).await?;
    let raw = form.get("destination").unwrap_or("").trim();
    let destination = match channel {
        Channel::Email => valid_email(raw).then(|| raw.to_owned()),
        Channel::Sms => normal_phone(raw),
    };
    let Some(destination) = destination else {
        let m = match channel {
            Channel::Email => "That is not an e-mail address.",
            Channel::Sms => "Type the number in international form: + and 8 to 15 digits.",
        };
        return show(p, &who, Some(m), None, StatusCode::BAD_REQUEST).await;
    };
    let t = now();
    let purpose = channel.enrol_purpose();
    let sender = match channel {
        Channel::Email => p.delivery.mail.clone(),
        Channel::Sms => p.delivery.sms.clone(),
    };
    let sent = send_code(
        &p.store,
        sender.as_ref(),
        (&who.user.id, purpose),
        &destination,
        t,
    )
    .await
    .map_err(db)?;
    let (m, status) = match sent {
        Ok(Sent::New) => (
            format!("A code was sent to {}.", masked(&destination)),
            StatusCode::OK,
        ),
        Ok(Sent::Recent) => (
            format!(
                "A code was sent moments ago; type it below, or ask again in {RESEND_AFTER} seconds."
            ),
            StatusCode::OK,
        ),
        Err(NotSent::Quota) => (
            "Too many codes were sent to you in the last hour; try again later.".to_owned(),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(NotSent::Failed(_)) => (
            "The code could not be sent; try again later.".to_owned(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    };
    show(p, &who, Some(&m), None, status).await
}

/// Confirms a new destination of `channel` with the code sent there.
async fn confirm(
    p: &Provider,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: Body,
    channel: Channel,
) -> HttpResult<Response> {
    let (who, form) = permitted(p, headers, body).await?;
    let given = form.get("code").unwrap_or("");
    match check_code(&p.store, (&who.user.id, channel.enrol_purpose()), given)
        .await
        .map_err(db)?
    {
        CodeCheck::Accepted { destination } => {
            let before = enrolled_email(p, &who).await?;
            p.store
                .put_factor(&who.user.id, channel.id(), &destination, now())
                .await
                .map_err(db)?;
            let what = match channel {
                Channel::Email => "A new e-mail address was verified",
                Channel::Sms => "A new phone number was verified",
            };
            changed(p, &who, what, (before, ip)).await?;
            let m = format!("{} verified.", masked(&destination));
            show(p, &who, Some(&m), None, StatusCode::OK).await
        }
        CodeCheck::Wrong | CodeCheck::NoCode => {
            let m = "Wrong or expired code. Ask for a new code if it expired.";
            show(p, &who, Some(m), None, StatusCode::BAD_REQUEST).await
        }
    }
}

/// The channel a path names: `email` or `sms`.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
fn channel_of(name: &str) -> HttpResult<Channel> {
    match name {
        "email" => Ok(Channel::Email),
        "sms" => Ok(Channel::Sms),
        _ => Err(http::error_page(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such factor",
        )),
    }
}

/// `POST /account/factors/{email,sms}`: a code to verify a new address or number.
pub async fn send_to(
    State(p): State<Arc<Provider>>,
    Path(name): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async { send(&p, ip, &headers, body, channel_of(&name)?).await }
        .await
        .unwrap_or_else(|r| r)
}

/// `POST /account/factors/{email,sms}/confirm`: the code sent there.
pub async fn confirm_code(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async { confirm(&p, ip, &headers, body, channel_of(&name)?).await }
        .await
        .unwrap_or_else(|r| r)
}

/// `POST /account/factors/second_password`: at least [`second_password::MIN_LENGTH`] characters, and not the
/// user's password.
pub async fn set_second_password(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (who, form) = permitted(&p, &headers, body).await?;
        let new = form.get("second_password").unwrap_or("").to_owned();
        let chars = new.chars().count();
        if chars < second_password::MIN_LENGTH || new.len() > second_password::MAX_LENGTH {
            let m = "A second password needs 8 to 256 characters.";
            return show(&p, &who, Some(m), None, StatusCode::BAD_REQUEST).await;
        }
        let first = Some(who.user.password_hash.clone()).filter(|h| !h.is_empty());
        if crate::authn::password::verify_bounded(new.clone(), first).await {
            let m = "The second password must differ from your password.";
            return show(&p, &who, Some(m), None, StatusCode::BAD_REQUEST).await;
        }
        let hash = tokio::task::spawn_blocking(move || crate::authn::password::hash(&new))
            .await
            .map_err(|e| db(crate::StoreError::Corrupt(e.to_string())))?
            .map_err(|e| db(crate::StoreError::Corrupt(e)))?;
        p.store
            .put_factor(&who.user.id, "second_password", &hash, now())
            .await
            .map_err(db)?;
        let before = enrolled_email(&p, &who).await?;
        changed(&p, &who, "A second password was set", (before, ip)).await?;
        show(&p, &who, Some("Second password set."), None, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|r| r)
}

/// `POST /account/factors/remove`: removes one factor (an app's pending set-up goes with the app).
pub async fn remove(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    async {
        let (who, form) = permitted(&p, &headers, body).await?;
        let Some(kind) = form.get("kind").filter(|k| REMOVABLE.contains(k)) else {
            let m = "No such factor.";
            return show(&p, &who, Some(m), None, StatusCode::BAD_REQUEST).await;
        };
        let before = enrolled_email(&p, &who).await?;
        let n = p
            .store
            .remove_factor(&who.user.id, Some(kind))
            .await
            .map_err(db)?;
        if kind == "mobile_app" {
            p.store
                .remove_factor(&who.user.id, Some("mobile_app-setup"))
                .await
                .map_err(db)?;
        }
        if n > 0 {
            let what = format!("A factor was removed ({kind})");
            changed(&p, &who, &what, (before, ip)).await?;
        }
        let m = if n > 0 {
            "Removed."
        } else {
            "That factor was not set up."
        };
        show(&p, &who, Some(m), None, StatusCode::OK).await
    }
    .await
    .unwrap_or_else(|r| r)
}

/// `GET /account/factors/confirm`: a pass of any one of the user's factors (the step-up pages of
/// `/Factor/Authenticate`, for the account page), then back to `/account/factors`.
pub async fn confirm_factor(
    State(p): State<Arc<Provider>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    async {
        // Each visit stores a pending request: at the login-page rate per address.
        if let Err(RetryAfter(secs)) = p.throttle.allow_work(ip, now_millis()) {
            return Ok(too_many_pages(secs));
        }
        let who = signed_in(&p, &headers).await?;
        let factors = confirmed_factors(&p, &who).await?;
        if factors.is_empty() {
            return Ok(http::redirect("/account/factors"));
        }
        let ask = Ask {
            target: Target::Account,
            redirect_url: p.endpoint("/account/factors"),
            factors,
            nonce: None,
        };
        factor::start(&p, &ask, &headers, (Some(&who.session), Some(&who.user))).await
    }
    .await
    .unwrap_or_else(|r| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_checked() {
        assert!(valid_email("jane@example.com"));
        for bad in [
            "",
            "jane",
            "jane@",
            "a b@example.com",
            "jane@example.com\r\nBcc: x@y",
            "<j@x>",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
        assert_eq!(
            normal_phone("+1 555-123-4567").as_deref(),
            Some("+15551234567")
        );
        for bad in [
            "5551234567",
            "+1234567",
            "+1234567890123456",
            "+1555abc4567",
            "",
        ] {
            assert_eq!(normal_phone(bad), None, "{bad:?}");
        }
    }
}

//! What the sign-in forms (`/login`, `/Factor/step`) share about attempts: counting one against its pending
//! request (used up past [`MAX_ATTEMPTS`]), `Retry-After`, the account key the throttle uses, the next
//! step-up step among the methods the user has enrolled, answering as the known user ([`as_user`]), and the
//! per-user lock of a step-up factor after [`FACTOR_MAX_FAILURES`] wrong answers.
//!
//! Must not: verify anything (the login methods do) or decide what a request needs (`crate::authn::policy`).

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{ErrorCode, Params};

use super::authorize::now_millis;
use super::authorize::request::Validated;
use crate::audit::Audit;
use crate::authn::throttle::RetryAfter;
use crate::authn::{AuthRecord, LoginMethod, ceremony, policy};
use crate::http::{HttpResult, db, error_page};
use crate::provider::Provider;
use crate::store::{PendingRow, UserRow};

/// Failed sign-ins and begun multi-step ceremonies one pending request allows; the last one uses it up.
pub const MAX_ATTEMPTS: i64 = 6;

/// `resp` with `Retry-After: secs`.
pub(crate) fn retry_after(mut resp: Response, secs: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Counts an attempt on `row` (before it is verified): the count so far, or — past [`MAX_ATTEMPTS`] — the
/// request is used up and the answer is an error page.
pub(crate) async fn spend_attempt(p: &Provider, row: &PendingRow) -> HttpResult<i64> {
    let count = p.store.count_attempt(&row.id).await.map_err(db)?;
    if count > MAX_ATTEMPTS {
        return Err(used_up(p, row).await);
    }
    Ok(count)
}

/// Uses up `row` after too many attempts: the error page (the user starts again from the application).
pub(crate) async fn used_up(p: &Provider, row: &PendingRow) -> Response {
    if let Err(e) = p.store.take_pending(&row.id).await {
        return db(e);
    }
    error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "access_denied",
        "too many failed attempts; start again from the application",
    )
}

/// The account a sign-in attempt is for, as the throttle keys it (case-folded).
pub(crate) fn account_key(name: Option<&str>) -> Option<String> {
    name.map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_lowercase)
}

/// Of `methods`, those `user` has enrolled (all of them when the user is not known).
pub(crate) async fn enrolled<'m>(
    p: &Provider,
    user: Option<&UserRow>,
    methods: Vec<&'m dyn LoginMethod>,
) -> HttpResult<Vec<&'m dyn LoginMethod>> {
    let Some(user) = user else {
        return Ok(methods);
    };
    let mut out = Vec::with_capacity(methods.len());
    for m in methods {
        if m.enrolled(&p.store, user).await.map_err(db)? {
            out.push(m);
        }
    }
    Ok(out)
}

/// The step-up step `record` lacks for `v`, among the methods `user` has enrolled: `None` when nothing is
/// missing, or when what is missing is a voluntary `acr` that nothing the user has can add (the ID token's
/// `acr` then tells what was met). An essential `acr` that nothing the user has can meet is refused with
/// `unmet_authentication_requirements` (OpenID Connect Core Unmet Authentication Requirements 1.0).
pub(crate) async fn next_step<'p>(
    p: &'p Provider,
    v: &Validated,
    record: &AuthRecord,
    user: Option<&UserRow>,
) -> HttpResult<Option<Vec<&'p dyn LoginMethod>>> {
    let Some(missing) = policy::missing_step(&p.methods, &v.req, record) else {
        return Ok(None);
    };
    let offered = enrolled(p, user, missing).await?;
    if !offered.is_empty() {
        return Ok(Some(offered));
    }
    if policy::wanted_acr(&v.req).1 {
        return Err(p.auth_error(
            &v.error_target(),
            ErrorCode::UnmetAuthenticationRequirements,
            "the user has no sign-in method that meets the essential acr",
        ));
    }
    Ok(None)
}

/// Wrong answers to one step-up factor of one user before it is locked for [`FACTOR_LOCK_SECS`].
pub const FACTOR_MAX_FAILURES: i64 = 10;
/// How long a locked factor stays locked after the last wrong answer, seconds.
pub const FACTOR_LOCK_SECS: i64 = 900;
/// Wrong answers older than this are forgotten, seconds.
pub const FACTOR_FORGET_SECS: i64 = 86_400;

/// `form` with its `username` set to `user`'s when the user is known (a step-up of the session's user, or the
/// user a second-factor request names): a method then checks that user's factor, never one a form names, and
/// the throttle counts against that account.
pub(crate) fn as_user(form: &Params, user: Option<&UserRow>) -> Params {
    let Some(user) = user else {
        return form.clone();
    };
    Params::from_pairs(
        form.iter()
            .filter(|(k, _)| *k != "username")
            .map(|(k, v)| (k, Cow::Borrowed(v)))
            .chain(std::iter::once((
                "username",
                Cow::Borrowed(user.username.as_str()),
            ))),
    )
}

/// Whether `method` is a step-up factor of a known `user` that is locked (too many wrong answers, counted in
/// the database per user: no address, node or password sign-in resets it).
pub(crate) async fn factor_locked(
    p: &Provider,
    user: Option<&UserRow>,
    method: &dyn LoginMethod,
    now: i64,
) -> HttpResult<bool> {
    match user {
        Some(u) if !method.first_factor() => p
            .store
            .factor_locked(
                &u.id,
                method.id(),
                now,
                (FACTOR_MAX_FAILURES, FACTOR_LOCK_SECS),
            )
            .await
            .map_err(db),
        _ => Ok(false),
    }
}

/// Counts a step-up factor's answer for a known user: a wrong one towards the lock, a right one clears it.
pub(crate) async fn factor_answered(
    p: &Provider,
    user: Option<&UserRow>,
    method: &dyn LoginMethod,
    (right, now): (bool, i64),
) -> HttpResult<()> {
    let Some(u) = user.filter(|_| !method.first_factor()) else {
        return Ok(());
    };
    let r = if right {
        p.store.factor_passed(&u.id, Some(method.id())).await
    } else {
        p.store
            .factor_failed(&u.id, method.id(), now, FACTOR_FORGET_SECS)
            .await
    };
    r.map_err(db)
}

/// The message of a locked factor.
pub(crate) const LOCKED: &str =
    "Too many wrong answers for this factor. Try again in 15 minutes, or use another factor.";

/// One answer to a sign-in page (`/login`, `/Factor/step`) for the method it names.
pub(crate) struct Attempt<'a> {
    /// The provider.
    pub p: &'a Provider,
    /// The pending request the page belongs to.
    pub row: &'a PendingRow,
    /// The method answered (one the page offered).
    pub method: &'a dyn LoginMethod,
    /// The form, already [`as_user`] when the user is known.
    pub form: &'a Params,
    /// The client's address.
    pub ip: std::net::IpAddr,
    /// The user who must answer, when known (step-up, a second-factor request).
    pub user: Option<&'a UserRow>,
    /// Now.
    pub t: i64,
}

/// What an [`Attempt`] came to.
pub(crate) enum Outcome {
    /// A multi-step method's first step may begin (the back-off allows it, and it was counted).
    Begin,
    /// The user the method proved (one the caller allows), and the variant to record; the pending request is
    /// not taken yet.
    Proven(UserRow, &'static str),
    /// The page again with why (a wrong answer, a back-off, a busy queue, a locked factor).
    Shown(Response),
}

/// Runs an attempt the same way for every sign-in page: the locked-factor check, then — to begin a multi-step
/// method — the back-off and the request's count; or — to answer — a place in the verification queue, the
/// back-off and the counts (all before anything is verified, so that concurrent guesses see each other), the
/// ceremony's state, the method's verification, `allowed` (who may answer here), the factor's lock count, and
/// the back-off cleared for the proven account only. `shown` renders the page with a message. Past
/// [`MAX_ATTEMPTS`] the request is used up (the error).
pub(crate) async fn attempt(
    a: Attempt<'_>,
    allowed: impl Fn(&UserRow) -> bool,
    shown: impl Fn(&str, StatusCode) -> Response,
) -> HttpResult<Outcome> {
    let Attempt {
        p,
        row,
        method,
        form,
        ip,
        user,
        t,
    } = a;
    let account = account_key(form.get("username"));
    let too_many = |RetryAfter(secs)| {
        let message = format!("Too many attempts. Try again in {secs} seconds.");
        Outcome::Shown(retry_after(
            shown(&message, StatusCode::TOO_MANY_REQUESTS),
            secs,
        ))
    };
    if factor_locked(p, user, method, t).await? {
        return Ok(Outcome::Shown(shown(LOCKED, StatusCode::TOO_MANY_REQUESTS)));
    }
    // Beginning a multi-step method is not a guess: it waits out a back-off, and counts against the request.
    if method.multi_step() && form.get("step") == Some("begin") {
        if let Err(wait) = p.throttle.check(account.as_deref(), ip, now_millis()) {
            return Ok(too_many(wait));
        }
        spend_attempt(p, row).await?;
        return Ok(Outcome::Begin);
    }
    // A place in the bounded verification queue, or 503 at once.
    let Some(_admitted) = p.throttle.admit() else {
        let busy = shown(
            "The service is busy. Try again in a moment.",
            StatusCode::SERVICE_UNAVAILABLE,
        );
        return Ok(Outcome::Shown(retry_after(busy, 1)));
    };
    if let Err(wait) = p.throttle.attempt(account.as_deref(), ip, now_millis()) {
        return Ok(too_many(wait));
    }
    let count = spend_attempt(p, row).await?;
    let shown = &shown;
    let fail = |message: &'static str| async move {
        if count >= MAX_ATTEMPTS {
            return Err(used_up(p, row).await);
        }
        HttpResult::Ok(Outcome::Shown(shown(message, StatusCode::UNAUTHORIZED)))
    };
    // A multi-step method: the state its beginning kept.
    let state = if method.multi_step() {
        let Some(id) = form.get("ceremony") else {
            return fail(method.failure_message()).await;
        };
        match ceremony::finish(&p.store, id, row, method.id())
            .await
            .map_err(db)?
        {
            Ok(state) => Some(state),
            Err(_) => return fail("The step expired or was already used; start it again.").await,
        }
    } else {
        None
    };
    let proven = method
        .verify_recorded(&p.store, form, state.as_deref())
        .await
        .map_err(db)?
        .filter(|(u, _)| allowed(u));
    drop(_admitted);
    factor_answered(p, user, method, (proven.is_some(), t)).await?;
    // Audited: who (the proven user; for a failure the known user, or the account the form named when it
    // exists — the name typed is never written), how, from where.
    let kind = if method.first_factor() {
        "sign_in"
    } else {
        "factor"
    };
    let named = match (&proven, user) {
        (Some((u, _)), _) => Some(u.id.clone()),
        (None, Some(u)) => Some(u.id.clone()),
        (None, None) => match form.get("username") {
            Some(name) => p.store.user_by_name(name).await.map_err(db)?.map(|u| u.id),
            None => None,
        },
    };
    p.metrics.sign_in(method.id(), proven.is_some());
    Audit {
        kind,
        outcome: if proven.is_some() {
            "success"
        } else {
            "failure"
        },
        user_id: named.as_deref(),
        client_id: Some(&row.client_id),
        address: Some(ip),
        detail: proven.as_ref().map_or(method.id(), |(_, r)| *r),
    }
    .record(&p.store)
    .await;
    let Some((proven, recorded_as)) = proven else {
        return fail(method.failure_message()).await;
    };
    // Only the account that was proven is cleared and trusted: a name typed beside a passkey (which proves its
    // own user) must not wipe another account's failures.
    p.throttle
        .succeeded(&proven.username.to_lowercase(), ip, now_millis());
    Ok(Outcome::Proven(proven, recorded_as))
}

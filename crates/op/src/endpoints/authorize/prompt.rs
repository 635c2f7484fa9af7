//! The login prompt: does the browser's session satisfy the request, or must the user log in? Expressed as an
//! interaction policy (the idea of node oidc-provider's `interaction_policy`): a list of named checks, each
//! giving a [`LoginReason`] when the session falls short, or refusing the request outright.
//!
//! Must not: show pages or write anything (the pipeline in [`super`] acts on the answer).

use portcullis_oidc::{ErrorCode, Prompt};

use super::checks::Refusal;
use super::request::Validated;
use crate::provider::Provider;
use crate::store::SessionRow;

/// Why the user must log in (again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginReason {
    /// No session in this browser.
    NoSession,
    /// `prompt=login`.
    PromptLogin,
    /// The session's authentication is older than `max_age` (or `max_age=0`).
    MaxAge,
    /// `id_token_hint` names another user.
    HintNamesAnotherUser,
    /// The `claims` request asks for another `sub`.
    ClaimsNameAnotherUser,
    /// A second-factor request: its user passes the second factor for each one (the relying party's password
    /// step was just now), whoever the session's user is.
    SecondFactor,
}

/// One check of a session against a request at time `t`.
type SessionCheck =
    fn(&Provider, &Validated, &SessionRow, i64) -> Result<Option<LoginReason>, Refusal>;

/// Every check runs (a later one may refuse outright); the first reason found is the answer.
const SESSION_CHECKS: [(&str, SessionCheck); 5] = [
    ("prompt=login", check_prompt_login),
    ("max_age", check_max_age),
    ("id_token_hint", check_id_token_hint),
    ("claims sub", check_claims_sub),
    ("second-factor login_hint", check_second_factor_user),
];

/// Whether the user must log in for `v` given the browser's session; `Err` refuses the request (with
/// `prompt=none`, or a hint that is not ours).
pub(crate) fn login_needed(
    p: &Provider,
    v: &Validated,
    session: Option<&SessionRow>,
    t: i64,
) -> Result<Option<LoginReason>, Refusal> {
    let mut reason = None;
    match session {
        None => reason = Some(LoginReason::NoSession),
        Some(s) => {
            for (_, check) in SESSION_CHECKS {
                let found = check(p, v, s, t)?;
                reason = reason.or(found);
            }
        }
    }
    if reason.is_some() && prompt_none(v) {
        return Err(Refusal {
            code: ErrorCode::LoginRequired,
            description: "prompt=none but the user must log in".into(),
        });
    }
    Ok(reason)
}

/// Whether `id_token_hint` or the `claims` request names a user other than `session`'s (after a login: the
/// request may only be answered for the user it names).
pub(crate) fn names_another_user(p: &Provider, v: &Validated, session: &SessionRow) -> bool {
    let sub = || p.subject(&v.client, &session.user_id);
    let hint_other = v
        .req
        .id_token_hint
        .as_deref()
        .and_then(|h| p.hint_subject(h, &v.client))
        .is_some_and(|h| h != sub());
    let claims_other = v
        .req
        .claims
        .as_ref()
        .and_then(|c| c.required_sub().ok().flatten())
        .is_some_and(|r| r != sub());
    hint_other || claims_other || second_factor_for_another(v, session)
}

/// Whether `v` is a second-factor request for someone other than `session`'s user.
fn second_factor_for_another(v: &Validated, session: &SessionRow) -> bool {
    v.second_factor
        .as_ref()
        .is_some_and(|named| named.as_deref() != Some(session.user_id.as_str()))
}

/// A second-factor request is answered only for the user it names, who passes the second factor for it (like
/// `max_age=0`): whatever the session, its user signs in again.
fn check_second_factor_user(
    _: &Provider,
    v: &Validated,
    _: &SessionRow,
    _: i64,
) -> Result<Option<LoginReason>, Refusal> {
    Ok(v.second_factor
        .is_some()
        .then_some(LoginReason::SecondFactor))
}

fn prompt_none(v: &Validated) -> bool {
    v.req.prompt.contains(&Prompt::None)
}

fn check_prompt_login(
    _: &Provider,
    v: &Validated,
    _: &SessionRow,
    _: i64,
) -> Result<Option<LoginReason>, Refusal> {
    Ok(v.req
        .prompt
        .contains(&Prompt::Login)
        .then_some(LoginReason::PromptLogin))
}

/// OIDC Core §3.1.2.1: re-authenticate when more than max_age seconds passed; max_age=0 always.
fn check_max_age(
    _: &Provider,
    v: &Validated,
    s: &SessionRow,
    t: i64,
) -> Result<Option<LoginReason>, Refusal> {
    Ok(v.req
        .max_age
        .filter(|&max_age| max_age == 0 || (t - s.auth_time).max(0) as u64 > max_age)
        .map(|_| LoginReason::MaxAge))
}

/// An `id_token_hint` must be an ID token of ours for this client; naming another user means logging in
/// again (or `login_required` with `prompt=none`).
fn check_id_token_hint(
    p: &Provider,
    v: &Validated,
    s: &SessionRow,
    _: i64,
) -> Result<Option<LoginReason>, Refusal> {
    let Some(hint) = &v.req.id_token_hint else {
        return Ok(None);
    };
    match p.hint_subject(hint, &v.client) {
        Some(hsub) if hsub == p.subject(&v.client, &s.user_id) => Ok(None),
        Some(_) if prompt_none(v) => Err(Refusal {
            code: ErrorCode::LoginRequired,
            description: "id_token_hint names another user".into(),
        }),
        Some(_) => Ok(Some(LoginReason::HintNamesAnotherUser)),
        None => Err(Refusal {
            code: ErrorCode::InvalidRequest,
            description: "id_token_hint is not a valid ID token from this provider".into(),
        }),
    }
}

/// A `claims` request for a particular `sub` (OIDC Core §5.5.1) that is not the session's user.
fn check_claims_sub(
    p: &Provider,
    v: &Validated,
    s: &SessionRow,
    _: i64,
) -> Result<Option<LoginReason>, Refusal> {
    let Some(Some(required)) = v
        .req
        .claims
        .as_ref()
        .map(|c| c.required_sub().ok().flatten())
    else {
        return Ok(None);
    };
    if required == p.subject(&v.client, &s.user_id) {
        return Ok(None);
    }
    if prompt_none(v) {
        return Err(Refusal {
            code: ErrorCode::LoginRequired,
            description: "the claims request names another user".into(),
        });
    }
    Ok(Some(LoginReason::ClaimsNameAnotherUser))
}

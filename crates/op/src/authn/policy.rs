//! Step-up: what an authorization request needs of the authentication, against what the session has, and the
//! step that is missing. The request's needs are its `acr` values — those of an essential `acr` claim
//! (OIDC Core §5.5.1.1), else the voluntary ones of the `claims` request or `acr_values` (§3.1.2.1) — and
//! `max_age`, which makes only the methods passed within it count. A requested `acr` the provider can produce
//! and the session does not have is a missing step: the login page offers only the methods that add it.
//!
//! Must not: decide that a full login is needed (no session, `prompt=login`, another user: that is the
//! authorization endpoint's prompt checks), or show pages.

use portcullis_oidc::AuthorizationRequest;

use super::record::AuthRecord;
use super::{Factor, LoginMethod, MFA_ACR, Methods, SECOND_FACTOR_ACR};

/// The `acr` values a request asks for, in preference order, and whether they are essential.
pub fn wanted_acr(req: &AuthorizationRequest) -> (Vec<&str>, bool) {
    match req.claims.as_ref().and_then(|c| c.acr()) {
        Some((values, essential)) if !values.is_empty() => (values, essential),
        _ => (req.acr_values.iter().map(String::as_str).collect(), false),
    }
}

/// Whether `req` is a relying party's second-factor request (it asks for [`SECOND_FACTOR_ACR`]; the
/// authorization endpoint accepts one only signed, naming its user).
pub fn is_second_factor(req: &AuthorizationRequest) -> bool {
    wanted_acr(req).0.contains(&SECOND_FACTOR_ACR)
}

/// With `max_age`, the earliest time a step may have been passed to count for `req`, which arrived at
/// `arrival`: within `max_age` before the request arrived, or at any time since (while the user was answering
/// it, so that `max_age=0` can be met). A second-factor request counts only what was passed while answering it
/// (the relying party's password step was just now; the second factor must be too).
pub fn max_age_since(req: &AuthorizationRequest, arrival: i64) -> Option<i64> {
    if is_second_factor(req) {
        return Some(arrival);
    }
    req.max_age
        .map(|m| arrival.saturating_sub(i64::try_from(m).unwrap_or(i64::MAX)))
}

/// The part of `record` that counts for `req`, which arrived at `arrival` (see [`max_age_since`]).
pub fn counted(req: &AuthorizationRequest, record: &AuthRecord, arrival: i64) -> AuthRecord {
    match max_age_since(req, arrival) {
        Some(since) => record.since(since),
        None => record.clone(),
    }
}

/// Whether a session whose newest step was passed at `auth_time` may still be answered at `now` for `req`,
/// which arrived at `arrival`: without `max_age` always; with it, when the user authenticated while answering
/// this request, or `max_age` has not passed since. (A consent page answered slowly must not yield an ID token
/// whose `auth_time` is older than `max_age`.)
pub fn fresh_at_issue(req: &AuthorizationRequest, auth_time: i64, arrival: i64, now: i64) -> bool {
    match req.max_age {
        None => true,
        Some(m) => auth_time >= arrival || (now - auth_time).max(0) as u64 <= m,
    }
}

/// The methods that would add what `record` lacks for `req`, or `None` when nothing is missing: the record
/// satisfies one of the wanted `acr` values, or none of them can be produced (voluntary values are then
/// answered with the `acr` the record has; an essential one was refused before anything was asked).
pub fn missing_step<'m>(
    methods: &'m Methods,
    req: &AuthorizationRequest,
    record: &AuthRecord,
) -> Option<Vec<&'m dyn LoginMethod>> {
    let (wanted, _) = wanted_acr(req);
    if wanted.iter().any(|w| methods.satisfies(record, w)) {
        return None;
    }
    let target = wanted.into_iter().find(|w| methods.can_produce(w))?;
    let offered: Vec<&dyn LoginMethod> = if let Some(level) = methods.level(target) {
        methods.level_step(record, level)
    } else if target == SECOND_FACTOR_ACR {
        methods
            .iter()
            .filter(|m| m.factor() != Factor::Knowledge)
            .collect()
    } else if target == MFA_ACR {
        let have = methods.factors(&methods.counted_for(record, MFA_ACR));
        methods
            .iter()
            .filter(|m| !have.contains(&m.factor()))
            .collect()
    } else {
        methods
            .iter()
            .filter(|m| super::methods::produces(*m, target))
            .collect()
    };
    (!offered.is_empty()).then_some(offered)
}

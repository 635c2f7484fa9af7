//! The pending authorization request that a login or consent form answers: loaded by the id the form carries,
//! unexpired, with the form's CSRF token checked in constant time, and validated again (the client may have
//! changed since).
//!
//! Must not: complete or consume the request (the endpoints do, once).

use axum::http::{HeaderMap, StatusCode};
use portcullis_oidc::Params;

use super::authorize::request::{Validated, establish};
use crate::http::binding::{BrowserBinding, same_site_form};
use crate::http::{HttpResult, csrf, db, error_page};
use crate::now;
use crate::provider::Provider;
use crate::store::PendingRow;

/// Loads a pending request of one of `kinds` named in a login/consent form posted from this site, checking its
/// CSRF token and that it comes from the browser the page was shown to.
pub(crate) async fn pending_from_form(
    p: &Provider,
    form: &Params,
    kinds: &[&str],
    headers: &HeaderMap,
) -> HttpResult<(PendingRow, Validated)> {
    same_site_form(headers, &p.issuer_origin())?;
    let bad = |d: &str| error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let id = form.get("pending").ok_or_else(|| bad("missing request"))?;
    let token = form.get("csrf").ok_or_else(|| bad("missing CSRF token"))?;
    let t = now();
    let mut found = None;
    for kind in kinds {
        found = p.store.pending(id, kind, t).await.map_err(db)?;
        if found.is_some() {
            break;
        }
    }
    let row = found
        .ok_or_else(|| bad("the sign-in request expired; start again from the application"))?;
    csrf::check(&row.csrf, token)?;
    let same_browser = BrowserBinding::existing(headers, p.secure_cookies())
        .is_some_and(|b| b.matches(&row.browser));
    if !same_browser {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this sign-in request was started in another browser; start again from the application",
        ));
    }
    let params = Params::parse(&row.params).map_err(|_| bad("stored request"))?;
    let v = match establish(p, &params).await? {
        Ok(v) => v,
        Err(_) => return Err(bad("the stored request is no longer valid")),
    };
    Ok((row, v))
}

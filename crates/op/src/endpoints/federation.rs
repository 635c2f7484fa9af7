//! Identity from elsewhere, as the authorization endpoint and the identity-provider selector see it: the
//! identity providers on offer (login-bridge sites and upstream providers, each with an `idp_id`), and the
//! `idp_id` shortcut that sends a browser straight to one of them instead of showing the login page.
//!
//! Must not: offer a provider whose method the provider does not run, or act on `idp_id` for a request that
//! must not show a page (`prompt=none`) or that a relying party's second-factor request restricts.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_oidc::{Params, Prompt};

use super::authorize::request::Validated;
use super::authorize::{now_millis, too_many_pages};
use super::interaction::pending_from_form;
use crate::authn::bridge::BRIDGE_METHOD;
use crate::http::{self, HttpResult, db, error_page};
use crate::provider::Provider;
use crate::store::PendingRow;
use crate::upstream::UPSTREAM_METHOD;

/// An identity provider on offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    /// Its id.
    pub idp_id: String,
    /// Its name.
    pub name: String,
    /// The issuer a relying party starts its login at: the upstream's own for an upstream provider, this
    /// provider's for a login-bridge site (with `idp_id` in the request).
    pub issuer: String,
}

/// Every identity provider on offer: the upstream providers, then the login-bridge sites.
pub async fn identity_providers(p: &Provider) -> HttpResult<Vec<IdentityProvider>> {
    let mut out = Vec::new();
    if p.methods.get(UPSTREAM_METHOD).is_some() {
        out.extend(p.upstreams.iter().map(|u| IdentityProvider {
            idp_id: u.config.id.clone(),
            name: u.config.name.clone(),
            issuer: u.config.issuer.clone(),
        }));
    }
    if p.methods.get(BRIDGE_METHOD).is_some() {
        out.extend(
            p.store
                .bridge_sites()
                .await
                .map_err(db)?
                .into_iter()
                .map(|s| IdentityProvider {
                    idp_id: s.id,
                    name: s.name,
                    issuer: p.cfg.issuer.clone(),
                }),
        );
    }
    Ok(out)
}

/// The browser sent straight to the provider `v`'s `idp_id` names, when it names one this provider offers;
/// `None` otherwise (an unknown `idp_id` is ignored, and the login page shown).
pub(crate) async fn shortcut(
    p: &Provider,
    row: &PendingRow,
    v: &Validated,
) -> HttpResult<Option<Response>> {
    let Some(idp) = v.req.extra.get("idp_id") else {
        return Ok(None);
    };
    if v.second_factor.is_some() || v.req.prompt.contains(&Prompt::None) {
        return Ok(None);
    }
    if p.methods.get(UPSTREAM_METHOD).is_some()
        && let Some(upstream) = p.upstreams.get(idp)
    {
        return super::upstream::send_out(p, row, v, upstream)
            .await
            .map(Some);
    }
    if p.methods.get(BRIDGE_METHOD).is_some()
        && let Some(site) = p.store.bridge_site(idp).await.map_err(db)?
    {
        return super::bridge::send_out(p, row, v, &site).await.map(Some);
    }
    Ok(None)
}

/// The form of a "Continue with ..." button (`/bridge/start`, `/upstream/start`): its pending authorization
/// request, checked as every login form is (CSRF, this browser, this site). A relying party's second-factor
/// request cannot be answered elsewhere.
pub(crate) async fn button_form(
    p: &Provider,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<(Params, PendingRow, Validated)> {
    let form = http::read_form(p.cfg.max_request_bytes, headers, body).await?;
    let (row, v) = pending_from_form(p, &form, &["authorize"], headers).await?;
    if v.second_factor.is_some() {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "signing in elsewhere is not offered here",
        ));
    }
    Ok((form, row, v))
}

/// What sending a browser out costs: a unit of the address's stored-work rate, and an attempt of the pending
/// request (like a failed sign-in; past [`super::login::MAX_ATTEMPTS`] the request is used up).
pub(crate) async fn spend(p: &Provider, ip: std::net::IpAddr, row: &PendingRow) -> HttpResult<()> {
    if let Err(crate::authn::throttle::RetryAfter(secs)) = p.throttle.allow_work(ip, now_millis()) {
        return Err(too_many_pages(secs));
    }
    if p.store.count_attempt(&row.id).await.map_err(db)? > super::login::MAX_ATTEMPTS {
        return Err(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request",
            "too many sign-in attempts for this request; start again from the application",
        ));
    }
    Ok(())
}

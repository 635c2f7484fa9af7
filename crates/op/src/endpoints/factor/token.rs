//! The Auth Token a finished step-up request carries back (`portcullis_factor::FactorTokenIssuer`): `iss`, the
//! `sub` that client sees in ID tokens (pairwise when it is a pairwise client), `aud` = the client,
//! `auth_factor`, `amr`, `iat`/`nbf`/`exp`, `jti`, the application's `nonce` when it sent one, `typ: factor+jwt`;
//! signed with the provider's current key for the client's ID-token algorithm (so the client verifies it with the
//! JWKS it already uses).
//!
//! Must not: outlive [`crate::Config::factor_token_lifetime`] or the client's shorter `factor_token_lifetime`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_factor::{Factor, FactorTokenIssuer};

use super::Ask;
use crate::clients::Client;
use crate::http::{HttpResult, error_page};
use crate::provider::Provider;

/// The lifetime of `client`'s tokens: the provider's, or the client's own `factor_token_lifetime` when shorter
/// (1..=300; anything else is ignored).
pub(crate) fn lifetime(p: &Provider, client: &Client) -> u64 {
    let own = client
        .meta
        .extra
        .get("factor_token_lifetime")
        .and_then(|v| v.as_u64())
        .filter(|s| (1..=300).contains(s));
    own.map_or(p.cfg.factor_token_lifetime, |s| {
        s.min(p.cfg.factor_token_lifetime)
    })
}

/// An Auth Token for `user_id` and `client`, proving `factors`, echoing the application's `nonce`.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
pub(crate) fn issue(
    p: &Provider,
    client: &Client,
    user_id: &str,
    (factors, nonce): (&[Factor], Option<&str>),
) -> HttpResult<String> {
    let fail = |why: &str| {
        tracing::warn!("cannot issue an Auth Token for {}: {why}", client.id);
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the token could not be issued; try again later",
        )
    };
    let keys = p.keys();
    let key = keys
        .signer(client.id_token_alg)
        .ok_or_else(|| fail("no key for the client's algorithm"))?;
    FactorTokenIssuer::new(p.cfg.issuer.clone(), key.clone(), client.id_token_alg)
        .lifetime(lifetime(p, client))
        .issue_with_nonce(
            &p.subject(client, user_id),
            &client.id,
            factors,
            nonce,
            u64::try_from(crate::now()).unwrap_or(0),
        )
        .map_err(|e| fail(&e.to_string()))
}

/// `url` with `pairs` added to its query (its own parameters kept, in place).
pub(crate) fn with_params(url: &str, pairs: &[(&str, &str)]) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Some(u.into())
}

/// A 303 to `ask`'s callback with `pairs` added.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
pub(crate) fn back(ask: &Ask, pairs: &[(&str, &str)]) -> HttpResult<Response> {
    let bad = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirectUrl cannot carry the answer",
        )
    };
    let location = with_params(&ask.redirect_url, pairs).ok_or_else(bad)?;
    let value = HeaderValue::from_str(&location).map_err(|_| bad())?;
    let mut resp = Response::new(axum::body::Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    resp.headers_mut().insert(header::LOCATION, value);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_callbacks_own_parameters() {
        assert_eq!(
            with_params(
                "https://app.com/Auth/Callback?r=/Home/Restricted",
                &[("auth_token", "a.b.c")]
            )
            .unwrap(),
            "https://app.com/Auth/Callback?r=/Home/Restricted&auth_token=a.b.c"
        );
        assert_eq!(
            with_params("https://app.com/cb", &[("error", "access_denied")]).unwrap(),
            "https://app.com/cb?error=access_denied"
        );
    }
}

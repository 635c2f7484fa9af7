//! One module per endpoint, and the router that mounts them. Each module owns its endpoint's handler and the
//! rules only that endpoint applies; what several share lives in [`crate::http`] (plumbing),
//! [`crate::authn`] (the login step) and [`crate::provider`] (state).
//!
//! | path | module |
//! | --- | --- |
//! | `/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server` | [`discovery`] |
//! | `/jwks` | [`jwks`] |
//! | `/authorize` | [`authorize`] (its pipeline of named checks) |
//! | `/login` | [`login`] |
//! | `/consent` | [`consent`] |
//! | `/register` | [`register`] (an account a relying party's signed request creates) |
//! | `/account`, `/account/passkeys/*` | [`account`] (the user's passkeys) |
//! | `/account/apps/remove` | [`account_apps`] (withdrawing consent from an application) |
//! | `/account/factors`, `/account/factors/*` | [`account_factors`] (the user's step-up factors) |
//! | `/Factor/Authenticate`, `/Factor/step` | [`factor`] (step-up Auth Tokens) |
//! | `/par` | [`par`] |
//! | `/token` | [`token`] (a module per grant type) |
//! | `/userinfo` | [`userinfo`] |
//! | `/revoke` | [`revoke`] |
//! | `/introspect` | [`introspect`] |
//! | `/end_session` | [`end_session`] |
//!
//! Must not: share state through anything but [`Provider`].

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::http;
use crate::provider::Provider;

pub mod account;
pub mod account_apps;
pub mod account_factors;
pub mod assets;
pub(crate) mod attempts;
pub mod authorize;
pub mod bridge;
pub mod consent;
pub mod discovery;
pub mod end_session;
pub mod factor;
pub mod federation;
pub mod health;
pub(crate) mod interaction;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod par;
pub mod register;
pub mod revoke;
pub mod select_accounts;
pub mod token;
pub mod upstream;
pub mod upstream_link;
pub mod userinfo;

/// The router with every endpoint.
pub fn router(p: Arc<Provider>) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::discovery),
        )
        // RFC 8414 §3: the same document for OAuth clients that read authorization server metadata.
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::discovery),
        )
        .route("/jwks", get(jwks::jwks))
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/login", post(login::login))
        .route("/bridge/start", post(bridge::start))
        .route("/bridge/postback", post(bridge::postback::postback))
        .route("/bridge/return", get(bridge::finish))
        .route("/upstream/start", post(upstream::start))
        .route("/upstream/callback", get(upstream::callback))
        .route("/upstream/link", post(upstream_link::decide))
        .route("/select-accounts", get(select_accounts::page))
        .route("/consent", post(consent::consent))
        .route("/register", post(register::register))
        .route("/account", get(account::account))
        .route("/account/passkeys", post(account::add_passkey))
        .route("/account/passkeys/new", post(account::new_passkey))
        .route("/account/passkeys/rename", post(account::rename))
        .route("/account/passkeys/remove", post(account::remove))
        .route("/account/apps/remove", post(account_apps::remove))
        .route("/account/factors", get(account_factors::page))
        .route(
            "/account/factors/confirm",
            get(account_factors::confirm_factor),
        )
        .route("/account/factors/app", post(account_factors::setup_app))
        .route(
            "/account/factors/app/confirm",
            post(account_factors::confirm_app),
        )
        .route(
            "/account/factors/second_password",
            post(account_factors::set_second_password),
        )
        .route("/account/factors/remove", post(account_factors::remove))
        .route("/account/factors/{channel}", post(account_factors::send_to))
        .route(
            "/account/factors/{channel}/confirm",
            post(account_factors::confirm_code),
        )
        .route("/Factor/Authenticate", get(factor::authenticate))
        .route("/factor/authenticate", get(factor::authenticate))
        .route("/Factor/step", post(factor::step::step))
        .route("/token", post(token::token))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/revoke", post(revoke::revoke))
        .route("/introspect", post(introspect::introspect))
        .route("/par", post(par::par))
        .route(
            "/end_session",
            get(end_session::end_session).post(end_session::end_session),
        )
        .route("/end_session/confirm", post(end_session::confirm))
        .route("/passkey.js", get(assets::passkey_js))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route_layer(axum::middleware::from_fn_with_state(
            p.clone(),
            crate::metrics::track,
        ))
        .fallback(|| async {
            http::oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(axum::middleware::from_fn_with_state(
            p.clone(),
            http::front::front,
        ))
        .with_state(p)
}

/// The client certificate of the connection, when serving mutual TLS.
pub(crate) fn peer_der(
    peer: Option<axum::Extension<crate::tls::PeerCertificate>>,
) -> Option<Arc<Vec<u8>>> {
    peer.and_then(|axum::Extension(crate::tls::PeerCertificate(c))| c)
}

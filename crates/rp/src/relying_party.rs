//! The [`RelyingParty`] value: its configuration, its HTTP client (built with [`http_client_builder`]) and the
//! discovered providers, plus the bounded back-channel form POST every endpoint call uses. Must not hold the
//! login steps themselves (begin, callback, tokens and UserInfo have their own modules).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::http;
use crate::{ClientConfig, MAX_RESPONSE_LEN, Provider, RpError};

/// A reqwest client builder with the settings back-channel calls need: no redirects followed, 10 s timeouts.
/// Add roots or a client identity (mTLS) and pass the result to [`RelyingParty::with_http_client`].
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("portcullis-rp/", env!("CARGO_PKG_VERSION")))
}

/// The relying party: configuration, an HTTP client, and the discovered providers.
pub struct RelyingParty {
    pub(crate) config: ClientConfig,
    pub(crate) http: reqwest::Client,
    pub(crate) providers: RwLock<HashMap<String, Arc<Provider>>>,
}

impl RelyingParty {
    /// A relying party with a default HTTP client ([`http_client_builder`]).
    pub fn new(config: ClientConfig) -> Result<RelyingParty, RpError> {
        let http = http_client_builder().build().map_err(|e| RpError::Http {
            endpoint: "client",
            reason: e.to_string(),
        })?;
        RelyingParty::with_http_client(config, http)
    }

    /// A relying party with the caller's HTTP client (custom roots, an mTLS identity). Build it from
    /// [`http_client_builder`] so redirects are not followed.
    pub fn with_http_client(
        config: ClientConfig,
        http: reqwest::Client,
    ) -> Result<RelyingParty, RpError> {
        config.validate()?;
        Ok(RelyingParty {
            config,
            http,
            providers: RwLock::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// POSTs a form and returns the JSON object of a 2xx answer; an OAuth error body becomes
    /// [`RpError::Provider`].
    pub(crate) async fn post_form(
        &self,
        endpoint: &'static str,
        url: &str,
        body: String,
        authorization: Option<String>,
    ) -> Result<Map<String, Value>, RpError> {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| http::http_error(endpoint, e))?;
        let status = resp.status();
        let body = http::read_limited(endpoint, resp, MAX_RESPONSE_LEN).await?;
        if !status.is_success() {
            return Err(
                http::oauth_error(endpoint, &body).unwrap_or(RpError::Status {
                    endpoint,
                    status: status.as_u16(),
                }),
            );
        }
        portcullis_jose::parse_strict_object(&body).map_err(|e| RpError::Malformed {
            endpoint,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod send_tests {
    use crate::{AuthOptions, Callback, Login, LoginSession, RelyingParty};

    /// Callers run these futures on multi-threaded runtimes (axum handlers): they must stay `Send`.
    #[allow(dead_code)]
    fn futures_are_send(
        rp: &RelyingParty,
        o: &AuthOptions,
        s: &LoginSession,
        c: &Callback,
        l: &Login,
    ) {
        fn is_send<T: Send>(_: T) {}
        is_send(rp.begin("x", o));
        is_send(rp.complete(s, c));
        is_send(rp.refresh("x", l, "r"));
        is_send(rp.userinfo("x", l));
    }
}

//! Upstream OpenID Providers (brokering): the provider is a relying party of each (through `portcullis-rp`:
//! discovery, PKCE, `state`, `nonce`, JARM when the upstream offers it, `private_key_jwt`, a client secret or
//! mTLS), and their users sign in here with "Continue with ...".
//!
//! This module owns the configuration of an upstream ([`UpstreamConfig`]), the relying parties built from it
//! ([`Upstreams`]), the claim mapping, and the login method that shows the buttons ([`UpstreamLogin`]). The
//! endpoints are in [`crate::endpoints::upstream`].
//!
//! Must not: trust anything an upstream sends before `portcullis-rp` verified it, or release a mapped claim that
//! fails the checks a login-bridge claim passes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;
use portcullis_rp::{ClientAuth, ClientConfig, RelyingParty};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::authn::{Factor, LoginMethod, LoginPage};
use crate::pages;
use crate::store::{Store, StoreError, UserRow};

/// The method id sessions record for a sign-in at an upstream provider.
pub const UPSTREAM_METHOD: &str = "upstream";
/// Its `acr`.
pub const UPSTREAM_ACR: &str = "urn:portcullis:acr:upstream";

/// An upstream provider in the configuration (`[[upstreams]]`). Its redirect URI, to register there, is
/// `{issuer}/upstream/callback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Its id, also its `idp_id` (1 to 32 of `a-z`, `0-9`, `-`, `_`).
    pub id: String,
    /// The name users see ("Continue with ...").
    pub name: String,
    /// Its issuer identifier (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// The `client_id` it registered this provider under.
    pub client_id: String,
    /// `private_key_jwt`: a file holding the private JWK (its public part registered upstream).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// `client_secret_basic`: the name of the environment variable holding the secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// `tls_client_auth`: the client certificate and its key (PEM files).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The key of [`tls_cert`](Self::tls_cert).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Scopes asked for (default `openid email profile`).
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Claims to take from the upstream, `local = "upstream"` (default: the standard claims, each to itself).
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// Whether its `email_verified` and `phone_number_verified` are believed (default false: they are dropped,
    /// so that an upstream cannot vouch here for an address it does not control).
    #[serde(default)]
    pub trust_verified: bool,
}

fn default_scope() -> String {
    "openid email profile".into()
}

/// One upstream: its configuration and its relying party.
pub struct Upstream {
    /// The configuration.
    pub config: UpstreamConfig,
    /// The relying party talking to it.
    pub rp: RelyingParty,
}

/// The configured upstreams.
#[derive(Default)]
pub struct Upstreams {
    list: Vec<Upstream>,
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl UpstreamConfig {
    /// Checks the values that can be checked without reading files.
    pub fn check(&self) -> Result<(), String> {
        if !valid_id(&self.id) {
            return Err("id must be 1-32 characters of a-z, 0-9, '-', '_'".into());
        }
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return Err("name must be 1-100 characters".into());
        }
        let methods = [
            self.private_key_file.is_some(),
            self.client_secret_env.is_some(),
            self.tls_cert.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() != 1 {
            return Err(
                "exactly one of private_key_file, client_secret_env, tls_cert is needed".into(),
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("tls_cert and tls_key go together".into());
        }
        if !self.scope.split(' ').any(|s| s == "openid") {
            return Err("scope must contain openid".into());
        }
        Ok(())
    }

    fn auth(&self) -> Result<ClientAuth, String> {
        if let Some(path) = &self.private_key_file {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let jwk = portcullis_jose::Jwk::from_json(&bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if !jwk.is_private() {
                return Err(format!("{}: not a private key", path.display()));
            }
            return Ok(ClientAuth::PrivateKeyJwt(Box::new(jwk)));
        }
        if let Some(var) = &self.client_secret_env {
            let secret = std::env::var(var).map_err(|_| format!("{var} is not set"))?;
            return Ok(ClientAuth::SecretBasic(secret.into()));
        }
        Ok(ClientAuth::Tls)
    }

    fn http_client(&self) -> Result<reqwest::Client, String> {
        let mut b = portcullis_rp::http_client_builder();
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let mut pem = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
            pem.extend(std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| format!("tls_cert: {e}"))?;
            b = b.identity(id);
        }
        b.build().map_err(|e| e.to_string())
    }

    /// The claims taken from the upstream's verified claims: each mapped one that passes the checks of a
    /// released claim (name, type, size); the others are left out, and so are `*_verified` unless
    /// [`trust_verified`](Self::trust_verified).
    pub fn map_claims(&self, upstream: &Map<String, Value>) -> Map<String, Value> {
        let pairs: Vec<(&str, &str)> = if self.claims.is_empty() {
            portcullis_oidc::STANDARD_CLAIMS
                .iter()
                .map(|c| (*c, *c))
                .collect()
        } else {
            self.claims
                .iter()
                .map(|(l, u)| (l.as_str(), u.as_str()))
                .collect()
        };
        let mut out = Map::new();
        for (local, theirs) in pairs {
            if !self.trust_verified && portcullis_oidc::VERIFIED_CLAIMS.contains(&local) {
                continue;
            }
            if let Some(v) = upstream.get(theirs)
                && portcullis_oidc::check_released_claim(local, v).is_ok()
            {
                out.insert(local.to_owned(), v.clone());
            }
        }
        out
    }
}

impl Upstreams {
    /// The relying parties of `configs`, each registered with redirect URI `{issuer}/upstream/callback`.
    pub fn from_config(issuer: &str, configs: &[UpstreamConfig]) -> Result<Upstreams, String> {
        let mut list = Vec::new();
        for c in configs {
            c.check()
                .map_err(|e| format!("upstreams: {:?}: {e}", c.id))?;
            let config = ClientConfig::new(
                &c.client_id,
                &format!("{issuer}/upstream/callback"),
                c.auth()?,
            )
            .issuer(&c.issuer)
            .scope(&c.scope);
            let rp = RelyingParty::with_http_client(config, c.http_client()?)
                .map_err(|e| format!("upstreams: {:?}: {e}", c.id))?;
            list.push(Upstream {
                config: c.clone(),
                rp,
            });
        }
        Ok(Upstreams { list })
    }

    /// An upstream by id.
    pub fn get(&self, id: &str) -> Option<&Upstream> {
        self.list.iter().find(|u| u.config.id == id)
    }

    /// Every upstream, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.list.iter()
    }
}

/// The upstream providers as a login method: their buttons on the login page; the sign-in completes at
/// `/upstream/callback`, and sessions record it as `upstream` (`amr` `fed`).
pub struct UpstreamLogin {
    buttons: Vec<(String, String)>,
    origins: Vec<String>,
}

impl UpstreamLogin {
    /// The buttons of the configured upstreams. The login page's `form-action` allows each issuer's origin
    /// (where a Portcullis or most providers have their authorization endpoint).
    pub fn from_config(configs: &[UpstreamConfig]) -> UpstreamLogin {
        UpstreamLogin {
            buttons: configs
                .iter()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect(),
            origins: configs
                .iter()
                .filter_map(|c| url::Url::parse(&c.issuer).ok())
                .map(|u| u.origin().ascii_serialization())
                .collect(),
        }
    }
}

impl LoginMethod for UpstreamLogin {
    fn id(&self) -> &'static str {
        UPSTREAM_METHOD
    }

    /// The upstream's login is counted as one factor, something the user knows (it may have been more; its
    /// `amr` is not carried over).
    fn factor(&self) -> Factor {
        Factor::Knowledge
    }

    fn amr(&self) -> &'static [&'static str] {
        &["fed"]
    }

    fn acr(&self) -> &'static str {
        UPSTREAM_ACR
    }

    fn form(&self, _page: &LoginPage<'_>) -> String {
        if self.buttons.is_empty() {
            return String::new();
        }
        pages::upstream_buttons(&self.buttons)
    }

    fn form_targets(&self) -> Vec<String> {
        self.origins.clone()
    }

    fn external(&self) -> bool {
        true
    }

    fn verify<'a>(
        &'a self,
        _store: &'a Store,
        _form: &'a Params,
        _state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn enrolled<'a>(
        &'a self,
        _store: &'a Store,
        _user: &'a UserRow,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(false) })
    }
}

//! Configuration: one TOML file, overridden by `PORTCULLIS_*` environment variables and command-line flags
//! (the binary does the overriding; this module holds the shape, the defaults and the checks).
//!
//! Must not: read the environment or the command line itself (the binary does), or start anything.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The TOML did not parse or has unknown keys.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The provider's configuration. Every field has a default, so an empty file (or none) is a working
/// development provider on `http://127.0.0.1:8080`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The issuer identifier: an https URL (http only on loopback), no query or fragment, no trailing slash.
    pub issuer: String,
    /// Socket address to listen on.
    pub listen: String,
    /// Directory for the SQLite database (and nothing else).
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://...` (default: `<data_dir>/portcullis.db`) or `postgres://...`.
    pub database_url: Option<String>,
    /// Authorization code lifetime, seconds (at most 60).
    pub code_lifetime: u64,
    /// Access token lifetime, seconds.
    pub access_token_lifetime: u64,
    /// ID token lifetime, seconds.
    pub id_token_lifetime: u64,
    /// Refresh token lifetime, seconds.
    pub refresh_token_lifetime: u64,
    /// Login session lifetime, seconds.
    pub session_lifetime: u64,
    /// How long a retired signing key stays in the JWKS, seconds (at least the ID token lifetime).
    pub retired_key_lifetime: u64,
    /// Create the demo client and user on first run.
    pub demo: bool,
    /// Custom scopes and the claims each releases (added to the standard `profile`, `email`, `phone`,
    /// `address`).
    pub scopes: BTreeMap<String, Vec<String>>,
    /// Largest request body and header block, bytes.
    pub max_request_bytes: usize,
    /// Serve HTTPS (rustls) with optional client certificates (RFC 8705).
    pub tls: Option<TlsConfig>,
    /// The furthest ahead a client assertion's `exp` may be, seconds (RFC 7523; default 3600, as libraries such
    /// as Python authlib sign `iat + 3600`; 1..=86400).
    pub client_assertion_max_lifetime: u64,
    /// Most open connections at once; further clients wait in the listen backlog until one closes (slow
    /// clients are closed after [`crate::http::READ_TIMEOUT`]). 16..=1000000, default 4096.
    pub max_connections: usize,
    /// Login pages (pending requests stored before anyone signed in) one client address may cause per second,
    /// sustained; default 10.
    pub login_pages_per_second: f64,
    /// ... and at once; default 100.
    pub login_pages_burst: f64,
    /// Behind a reverse proxy: the header it sets to the client's address (e.g. `X-Forwarded-For`, whose last
    /// value is taken, or `X-Real-IP`). Set it only when every request comes through that proxy; without it the
    /// TCP peer is the client's address (throttling is per address).
    pub client_ip_header: Option<String>,
    /// The key-encryption key file (its secrets at rest are sealed under it; see [`crate::data_dir`]). Default:
    /// `portcullis.kek` in the data directory, created on first run; the `PORTCULLIS_KEK` environment variable
    /// overrides both. Every node of a PostgreSQL deployment needs the same key.
    pub kek_file: Option<PathBuf>,
    /// Offer passkeys (WebAuthn) next to passwords, and let relying parties create accounts with them
    /// (`prompt=create`). Needs an issuer whose host is a domain name (`localhost` for development, not an IP
    /// address): the WebAuthn relying party ID is that host. Default false.
    pub passkeys: bool,
    /// The `acr` values a synced passkey (one its authenticator may back up or share: WebAuthn backup
    /// eligible) does not satisfy: a device-bound passkey is then needed (step-up asks for one). The
    /// `urn:portcullis:acr:passkey:device-bound` value is always among them. Default: none more.
    pub passkeys_device_bound_for: Vec<String>,
    /// The WebAuthn relying party ID: the issuer's host (default) or a registrable suffix of it, so that
    /// passkeys work across the site's subdomains (`example.com` for an issuer at `login.example.com`).
    pub passkeys_rp_id: Option<String>,
    /// Origins allowed in passkey ceremonies besides the issuer's (`https://app.example.com`): each of
    /// `passkeys_rp_id` or under it. Default: none.
    pub passkeys_origins: Vec<String>,
    /// A PEM file of attestation root CAs: users may then add attested passkeys (security keys whose make
    /// chains to one of them) on the account page. Default: none.
    pub passkeys_attestation_ca: Option<PathBuf>,
    /// The `acr` values only an attested passkey satisfies (`urn:portcullis:acr:passkey:attested` always).
    pub passkeys_attested_for: Vec<String>,
    /// Where e-mailed one-time codes go: an SMTP URL (`smtp://relay:25`, `smtp://host?tls=required` for
    /// STARTTLS, `smtps://user:password@host`). Default: none, the development outbox.
    pub smtp_url: Option<String>,
    /// The sender of those e-mails (`Name <address>`). Default: `Portcullis <no-reply@issuer-host>`.
    pub smtp_from: Option<String>,
    /// Where SMS codes go: an https URL that receives `{"to", "message"}` as JSON (an SMS gateway's webhook).
    /// Default: none, the development outbox.
    pub sms_webhook_url: Option<String>,
    /// The development outbox: a file that codes are written to when no SMTP server or SMS webhook is set
    /// (default `outbox.log` in the data directory).
    pub outbox: Option<PathBuf>,
    /// How long a step-up Auth Token (`/Factor/Authenticate`) is valid, seconds: 1..=300, default 300. A client
    /// may ask for less with its `factor_token_lifetime` registration metadata.
    pub factor_token_lifetime: u64,
    /// Authentication levels defined as data: each an `acr` value and what satisfies it (see [`AcrLevel`]).
    /// They are published in `acr_values_supported`. Default: none beyond the built-in ones.
    pub acr_levels: Vec<AcrLevel>,
    /// Login-bridge sites (`[[bridge_sites]]`): websites with their own login that vouch for their users (see
    /// [`crate::bridge_sites::SiteConfig`]). Written to the database at startup; sites can also be added with
    /// `portcullis-provider site add`. Default: none.
    pub bridge_sites: Vec<crate::bridge_sites::SiteConfig>,
    /// Upstream OpenID Providers offered on the login page (`[[upstreams]]`, see
    /// [`crate::upstream::UpstreamConfig`]). Default: none.
    pub upstreams: Vec<crate::upstream::UpstreamConfig>,
    /// How long audit events are kept, in days (default 365; at least 1).
    pub audit_retention_days: u64,
    /// Where to serve `/metrics` (Prometheus text format), an address:port apart from `listen` so that it need
    /// not be public. Default: not served.
    pub metrics_listen: Option<String>,
}

/// An authentication level (`acr` value) defined in the configuration: met by `methods` different sign-in
/// methods passed, at least one of them among `one_of` (when given). For example
/// `{ acr = "urn:portcullis:acr:mfa", methods = 2, one_of = ["passkey", "mobile_app"] }`: any two factors, one a
/// passkey or an authenticator-app code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcrLevel {
    /// The `acr` value (a URI or a short name; no spaces; at most 200 characters).
    pub acr: String,
    /// How many different methods (1..=4).
    pub methods: usize,
    /// Method ids of which at least one must be among them (`password`, `passkey`, `mobile_app`, `email`,
    /// `sms`, `second_password`); empty: any.
    #[serde(default)]
    pub one_of: Vec<String>,
}

/// TLS settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Server certificate chain, PEM.
    pub cert: PathBuf,
    /// Server private key, PEM (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA certificates (PEM) that issue `tls_client_auth` client certificates. Without it, only
    /// `self_signed_tls_client_auth` clients can use mutual TLS.
    pub client_ca: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        let mut scopes = BTreeMap::new();
        scopes.insert("avatar".into(), vec!["nickname".into(), "picture".into()]);
        scopes.insert("payment_details".into(), vec!["payment_details".into()]);
        Config {
            issuer: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("portcullis-data"),
            database_url: None,
            code_lifetime: 60,
            access_token_lifetime: 600,
            id_token_lifetime: 600,
            refresh_token_lifetime: 30 * 24 * 3600,
            session_lifetime: 8 * 3600,
            retired_key_lifetime: 24 * 3600,
            demo: true,
            scopes,
            max_request_bytes: 64 * 1024,
            tls: None,
            client_assertion_max_lifetime: 3600,
            max_connections: 4096,
            login_pages_per_second: 10.0,
            login_pages_burst: 100.0,
            client_ip_header: None,
            kek_file: None,
            passkeys: false,
            passkeys_device_bound_for: Vec::new(),
            passkeys_rp_id: None,
            passkeys_origins: Vec::new(),
            passkeys_attestation_ca: None,
            passkeys_attested_for: Vec::new(),
            smtp_url: None,
            smtp_from: None,
            sms_webhook_url: None,
            outbox: None,
            factor_token_lifetime: 300,
            acr_levels: Vec::new(),
            bridge_sites: Vec::new(),
            upstreams: Vec::new(),
            audit_retention_days: 365,
            metrics_listen: None,
        }
    }
}

impl Config {
    /// Reads a TOML file (unknown keys are errors).
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
        Self::from_toml(&text)
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("portcullis.db").display()
            )
        })
    }

    /// Checks the values.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let url = url::Url::parse(&self.issuer)
            .map_err(|_| ConfigError::Invalid("issuer is not a URL".into()))?;
        let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost");
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return bad("issuer must be https (http only on loopback)"),
        }
        if url.query().is_some() || url.fragment().is_some() || self.issuer.ends_with('/') {
            return bad("issuer must have no query, fragment or trailing slash");
        }
        if self.tls.is_some() && url.scheme() != "https" {
            return bad("with tls configured the issuer must be https");
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("listen must be an address:port");
        }
        if self.code_lifetime == 0 || self.code_lifetime > 60 {
            return bad("code_lifetime must be 1..=60 seconds");
        }
        if !(1..=86_400).contains(&self.client_assertion_max_lifetime) {
            return bad("client_assertion_max_lifetime must be 1..=86400 seconds");
        }
        for (name, v) in [
            ("access_token_lifetime", self.access_token_lifetime),
            ("id_token_lifetime", self.id_token_lifetime),
            ("refresh_token_lifetime", self.refresh_token_lifetime),
            ("session_lifetime", self.session_lifetime),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be positive")));
            }
        }
        if self.retired_key_lifetime < self.id_token_lifetime {
            return bad("retired_key_lifetime must be at least id_token_lifetime");
        }
        if self.passkeys && url.domain().is_none() {
            return bad(
                "passkeys need an issuer whose host is a domain name (localhost, not 127.0.0.1)",
            );
        }
        if !(16..=1_000_000).contains(&self.max_connections) {
            return bad("max_connections must be 16..=1000000");
        }
        let rate_ok = self.login_pages_per_second > 0.0 && self.login_pages_per_second.is_finite();
        let burst_ok = self.login_pages_burst >= 1.0 && self.login_pages_burst.is_finite();
        if !(rate_ok && burst_ok) {
            return bad("login_pages_per_second must be positive and login_pages_burst at least 1");
        }
        if let Some(h) = &self.client_ip_header
            && axum::http::HeaderName::try_from(h.as_str()).is_err()
        {
            return bad("client_ip_header must be a header name");
        }
        if !(1024..=1024 * 1024).contains(&self.max_request_bytes) {
            return bad("max_request_bytes must be 1 KiB..=1 MiB");
        }
        for name in self.scopes.keys() {
            if [
                "openid",
                "profile",
                "email",
                "phone",
                "address",
                "offline_access",
            ]
            .contains(&name.as_str())
            {
                return Err(ConfigError::Invalid(format!(
                    "scope {name} is standard and cannot be redefined"
                )));
            }
            if portcullis_oidc::Scope::parse(name).map(|s| s.iter().count()) != Ok(1) {
                return Err(ConfigError::Invalid(format!(
                    "scope {name:?} is not a scope token"
                )));
            }
        }
        if !(1..=300).contains(&self.factor_token_lifetime) {
            return bad("factor_token_lifetime must be 1..=300 seconds");
        }
        for l in &self.acr_levels {
            let acr_ok = !l.acr.is_empty()
                && l.acr.len() <= 200
                && l.acr
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
            if !acr_ok || !(1..=4).contains(&l.methods) {
                return Err(ConfigError::Invalid(format!(
                    "acr_levels: {:?} needs an acr without spaces (at most 200 characters) and methods 1..=4",
                    l.acr
                )));
            }
        }
        if let Some(m) = &self.metrics_listen
            && (m.parse::<std::net::SocketAddr>().is_err() || *m == self.listen)
        {
            return bad("metrics_listen must be an address:port other than listen");
        }
        if !(1..=36_500).contains(&self.audit_retention_days) {
            return bad("audit_retention_days must be 1..=36500");
        }
        for u in &self.upstreams {
            u.check()
                .map_err(|e| ConfigError::Invalid(format!("upstreams: {:?}: {e}", u.id)))?;
        }
        let mut ids: Vec<&str> = self.bridge_sites.iter().map(|s| s.id.as_str()).collect();
        ids.extend(self.upstreams.iter().map(|u| u.id.as_str()));
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return bad(
                "bridge_sites and upstreams need distinct ids (they are the selector's idp_id)",
            );
        }
        for site in &self.bridge_sites {
            crate::bridge_sites::check(&site.row())
                .map_err(|e| ConfigError::Invalid(format!("bridge_sites: {:?}: {e}", site.id)))?;
        }
        if let Some(u) = &self.database_url
            && !(u.starts_with("sqlite:")
                || u.starts_with("postgres:")
                || u.starts_with("postgresql:"))
        {
            return bad("database_url must be sqlite:// or postgres://");
        }
        Ok(())
    }

    /// The scope → claims map in effect.
    pub fn scope_claims(&self) -> portcullis_oidc::ScopeClaims {
        let mut m = portcullis_oidc::ScopeClaims::standard();
        for (scope, claims) in &self.scopes {
            let c: Vec<&str> = claims.iter().map(String::as_str).collect();
            m = m.with_scope(scope, &c);
        }
        m
    }
}

//! # portcullis-rp
//!
//! An OpenID Connect relying party that makes the safe path the only path. A login is two calls:
//! [`RelyingParty::begin`] builds the authorization URL (PKCE S256, `state` and `nonce` from the CSPRNG, kept in a
//! [`LoginSession`] the caller stores) and [`RelyingParty::complete`] turns the callback into a [`Login`] only
//! after every check of the seeds' security checklist and OIDC Core §3.1.3.7 passed:
//!
//! - discovery is validated (`issuer` equals the URL it came from, https except on loopback, no `none`);
//! - the callback's `state` equals the session's; its `iss` (RFC 9207) equals the issuer the login started with,
//!   and is required when the provider advertises it (mix-up defence, also across several configured issuers);
//! - JARM responses are verified (signature, `iss`, `aud`, `exp`);
//! - the response carries exactly what the response type promised;
//! - ID tokens: signature with an allow-list (default ES256, RS256, PS256, EdDSA; symmetric algorithms and `none`
//!   cannot be configured), `iss`, `aud` contains us, `azp`, `exp`/`iat` with leeway, `nonce`, `at_hash`/`c_hash`,
//!   `max_age` → `auth_time`; the two ID tokens of a hybrid flow must agree on `iss` and `sub`;
//! - UserInfo's `sub` must equal the ID token's.
//!
//! Keys come from a per-issuer [`JwksCache`]: an unknown `kid` triggers at most one refetch per
//! [`ClientConfig::jwks_min_refetch`].
//!
//! ```no_run
//! use portcullis_rp::{AuthOptions, Callback, ClientAuth, ClientConfig, RelyingParty};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new("demo", "http://127.0.0.1:8081/callback", ClientAuth::None)
//!     .issuer("http://127.0.0.1:8080")
//!     .scope("openid profile email");
//! let rp = RelyingParty::new(config)?;
//! let (url, session) = rp.begin("http://127.0.0.1:8080", &AuthOptions::default()).await?;
//! println!("open {url}");
//! // ... the browser comes back to the redirect URI with ?code=...&state=...&iss=...
//! # let callback_url = String::new();
//! let login = rp.complete(&session, &Callback::from_url(&callback_url)?).await?;
//! let userinfo = rp.userinfo(&session.issuer, &login).await?;
//! println!("{} {:?}", login.subject(), userinfo);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod http;
mod jwks;
mod session;

#[cfg(feature = "server")]
pub mod demo;
#[cfg(feature = "server")]
pub mod loopback;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use portcullis_jose::{Algorithm, AlgorithmSet, Jwk, JwkAlgorithm, SigningKey, jws, jwt};
use portcullis_oidc::{
    AuthorizationResponse, ClientAuthentication, Grant, IdToken, IdTokenExpectations,
    MAX_METADATA_LEN, Params, ProviderMetadata, ResponseMode, ResponseType, TokenRequest,
    TokenResponse, verify_id_token,
};
use portcullis_pkce::{CodeChallenge, CodeVerifier};
use serde_json::{Map, Value, json};
use tokio::sync::RwLock;
use zeroize::Zeroizing;

pub use error::RpError;
pub use http::{MAX_RESPONSE_LEN, random_token};
pub use jwks::{JwksCache, NeedsKeys};
pub use session::{AuthOptions, Callback, LoginSession};

/// The ID token algorithms accepted unless configured otherwise.
pub const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Es256,
    Algorithm::Rs256,
    Algorithm::Ps256,
    Algorithm::EdDsa,
];

/// How the client authenticates at the token and PAR endpoints.
#[derive(Clone)]
pub enum ClientAuth {
    /// A public client (PKCE is always used).
    None,
    /// `client_secret_basic`.
    SecretBasic(Zeroizing<String>),
    /// `client_secret_post`.
    SecretPost(Zeroizing<String>),
    /// `client_secret_jwt` (OIDC Core §9, RFC 7523): an HS256 assertion keyed by the client secret (at least
    /// 32 bytes, RFC 7518 §3.2).
    SecretJwt(Zeroizing<String>),
    /// `private_key_jwt` (RFC 7523) with this private key; the same key signs request objects.
    PrivateKeyJwt(Box<Jwk>),
    /// `tls_client_auth` / `self_signed_tls_client_auth` (RFC 8705): the certificate is configured on the HTTP
    /// client (see [`http_client_builder`] and `reqwest::Identity`); only `client_id` goes in the body.
    Tls,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "None",
            ClientAuth::SecretBasic(_) => "SecretBasic(..)",
            ClientAuth::SecretPost(_) => "SecretPost(..)",
            ClientAuth::SecretJwt(_) => "SecretJwt(..)",
            ClientAuth::PrivateKeyJwt(_) => "PrivateKeyJwt(..)",
            ClientAuth::Tls => "Tls",
        })
    }
}

/// A relying party's registration and policy.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `client_id`.
    pub client_id: String,
    /// The registered redirect URI.
    pub redirect_uri: String,
    /// Client authentication.
    pub auth: ClientAuth,
    /// Scopes always requested (must contain `openid`).
    pub scope: String,
    /// ID token (and JARM, signed UserInfo) algorithms accepted.
    pub algorithms: AlgorithmSet,
    /// Clock-skew leeway for `exp`/`iat`/`auth_time`, in seconds.
    pub leeway: u64,
    /// The shortest time between two JWKS fetches triggered by unknown keys.
    pub jwks_min_refetch: Duration,
    /// The issuers a login may start with.
    pub issuers: Vec<String>,
}

impl ClientConfig {
    /// A configuration with the defaults: scope `openid`, [`DEFAULT_ALGORITHMS`], 60 s leeway, JWKS refetch at
    /// most every 30 s, no issuer yet (add with [`issuer`](Self::issuer)).
    pub fn new(client_id: &str, redirect_uri: &str, auth: ClientAuth) -> ClientConfig {
        ClientConfig {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            auth,
            scope: "openid".into(),
            algorithms: AlgorithmSet::from(DEFAULT_ALGORITHMS),
            leeway: 60,
            jwks_min_refetch: Duration::from_secs(30),
            issuers: Vec::new(),
        }
    }

    /// Allows logins with `issuer` (call once per issuer: the account-selector model).
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuers.push(issuer.to_owned());
        self
    }

    /// Sets the scopes always requested.
    pub fn scope(mut self, scope: &str) -> Self {
        self.scope = scope.to_owned();
        self
    }

    /// Sets the accepted algorithms.
    pub fn algorithms(mut self, algorithms: impl Into<AlgorithmSet>) -> Self {
        self.algorithms = algorithms.into();
        self
    }

    fn validate(&self) -> Result<(), RpError> {
        let bad = |s: &str| Err(RpError::Config(s.to_owned()));
        if self.client_id.is_empty() {
            return bad("client_id is empty");
        }
        if !portcullis_oidc::acceptable_redirect_uri(&self.redirect_uri) {
            return bad(
                "redirect_uri must be https, or http on a loopback address, without fragment",
            );
        }
        if !self.scope.split(' ').any(|s| s == "openid") {
            return bad("scope must contain openid");
        }
        if self.algorithms.is_empty() {
            return bad("no ID token algorithm allowed");
        }
        if self.algorithms.iter().any(|a| a.is_symmetric()) {
            return bad("symmetric (HS*) algorithms cannot verify a provider's signatures");
        }
        if self.issuers.is_empty() {
            return bad("no issuer configured");
        }
        if let ClientAuth::PrivateKeyJwt(k) = &self.auth
            && !k.is_private()
        {
            return bad("private_key_jwt needs a private key");
        }
        if let ClientAuth::SecretJwt(s) = &self.auth
            && s.len() < 32
        {
            return bad("client_secret_jwt needs a secret of at least 32 bytes");
        }
        Ok(())
    }
}

/// A reqwest client builder with the settings back-channel calls need: no redirects followed, 10 s timeouts.
/// Add roots or a client identity (mTLS) and pass the result to [`RelyingParty::with_http_client`].
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("portcullis-rp/", env!("CARGO_PKG_VERSION")))
}

/// A discovered provider: its validated metadata and its key cache.
#[derive(Debug)]
pub struct Provider {
    /// The validated metadata.
    pub metadata: ProviderMetadata,
    /// Its keys.
    pub jwks: JwksCache,
}

/// A completed, fully validated login.
#[derive(Debug, Clone)]
pub struct Login {
    /// The verified ID token (the token endpoint's when the code flow ran, else the front channel's).
    pub id_token: IdToken,
    /// The ID token as received.
    pub id_token_raw: String,
    /// The access token, if one was issued.
    pub access_token: Option<String>,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// Access token lifetime in seconds, if given.
    pub expires_in: Option<u64>,
    /// The granted scope, if the provider said.
    pub scope: Option<String>,
}

impl Login {
    /// The verified `sub`.
    pub fn subject(&self) -> &str {
        self.id_token.claims.registered.sub.as_deref().unwrap_or("")
    }

    /// Every verified ID token claim as one JSON object (a decoded token's `custom` map holds the whole claims
    /// set, registered claims included).
    pub fn claims(&self) -> Map<String, Value> {
        self.id_token.claims.custom.clone()
    }
}

/// Tokens from a refresh.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The new access token.
    pub access_token: String,
    /// The rotated refresh token, if the provider rotated it.
    pub refresh_token: Option<String>,
    /// A new ID token, verified (same `iss`, `sub`, `aud` as before; no nonce), if one came.
    pub id_token: Option<IdToken>,
    /// Lifetime in seconds.
    pub expires_in: Option<u64>,
}

/// The relying party: configuration, an HTTP client, and the discovered providers.
pub struct RelyingParty {
    config: ClientConfig,
    http: reqwest::Client,
    providers: RwLock<HashMap<String, Arc<Provider>>>,
}

fn scope_union(a: &str, b: Option<&str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in a.split(' ').chain(b.unwrap_or("").split(' ')) {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(" ")
}

fn signing_material(jwk: &Jwk) -> Result<(SigningKey, Algorithm), RpError> {
    let sk = jwk.signing_key().map_err(portcullis_jose::Error::from)?;
    let alg = match jwk.alg() {
        Some(JwkAlgorithm::Jws(a)) => *a,
        _ => sk.default_algorithm(),
    };
    Ok((sk, alg))
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

    /// Fetches and validates `issuer`'s discovery document once (cached afterwards). The issuer must be
    /// configured; the document's `issuer` must equal it exactly.
    pub async fn provider(&self, issuer: &str) -> Result<Arc<Provider>, RpError> {
        if !self.config.issuers.iter().any(|i| i == issuer) {
            return Err(RpError::UnknownIssuer(issuer.to_owned()));
        }
        if let Some(p) = self.providers.read().await.get(issuer) {
            return Ok(p.clone());
        }
        let metadata = discover(&self.http, issuer).await?;
        let jwks = JwksCache::new(&metadata.jwks_uri, self.config.jwks_min_refetch);
        let p = Arc::new(Provider { metadata, jwks });
        self.providers
            .write()
            .await
            .insert(issuer.to_owned(), p.clone());
        Ok(p)
    }

    fn client_assertion(&self, audience: &str) -> Result<Option<String>, RpError> {
        let now = jwt::NumericDate::now().as_secs();
        let claims = json!({
            "iss": self.config.client_id, "sub": self.config.client_id, "aud": audience,
            "jti": random_token(), "iat": now, "exp": now + 60,
        });
        match &self.config.auth {
            ClientAuth::PrivateKeyJwt(jwk) => {
                let (sk, alg) = signing_material(jwk)?;
                Ok(Some(jwt::encode_value(
                    &jws::Header::new(alg).with_typ("JWT"),
                    &claims,
                    &sk,
                )?))
            }
            ClientAuth::SecretJwt(secret) => {
                let key = portcullis_jose::HmacKey::new(secret.as_bytes())?;
                Ok(Some(jwt::encode_value(
                    &jws::Header::new(Algorithm::Hs256).with_typ("JWT"),
                    &claims,
                    &key,
                )?))
            }
            _ => Ok(None),
        }
    }

    fn client_authentication(&self, endpoint: &str) -> Result<ClientAuthentication, RpError> {
        let client_id = self.config.client_id.clone();
        Ok(match &self.config.auth {
            ClientAuth::None | ClientAuth::Tls => ClientAuthentication::None { client_id },
            ClientAuth::SecretBasic(s) => ClientAuthentication::SecretBasic {
                client_id,
                secret: s.to_string(),
            },
            ClientAuth::SecretPost(s) => ClientAuthentication::SecretPost {
                client_id,
                secret: s.to_string(),
            },
            ClientAuth::PrivateKeyJwt(_) | ClientAuth::SecretJwt(_) => {
                ClientAuthentication::JwtAssertion {
                    client_id: Some(client_id),
                    assertion: self.client_assertion(endpoint)?.unwrap_or_default(),
                }
            }
        })
    }

    /// Starts a login with `issuer`: returns the URL to send the browser to and the session to keep.
    pub async fn begin(
        &self,
        issuer: &str,
        opts: &AuthOptions,
    ) -> Result<(String, LoginSession), RpError> {
        let p = self.provider(issuer).await?;
        let m = &p.metadata;
        let rt = opts.response_type.unwrap_or(ResponseType::CODE);
        if !m
            .response_types_supported
            .iter()
            .any(|s| ResponseType::parse(s).is_ok_and(|x| x == rt))
        {
            return Err(RpError::Unsupported("this response_type"));
        }
        let mode = opts.response_mode.map(|mo| mo.resolve(rt));
        if let Some(mo) = mode
            && !m.response_modes_supported.is_empty()
            && !m
                .response_modes_supported
                .iter()
                .any(|s| s == mo.as_str() || (mo.is_jwt() && s == "jwt"))
        {
            return Err(RpError::Unsupported("this response_mode"));
        }
        if mode == Some(ResponseMode::Query) && rt.is_front_channel_token() {
            // OAuth 2.0 Multiple Response Types §5: tokens never go in the query.
            return Err(RpError::Config(
                "response_mode=query cannot carry tokens".into(),
            ));
        }
        let state = random_token();
        let nonce = random_token();
        let verifier = rt.has_code().then(CodeVerifier::generate);
        let scope = scope_union(&self.config.scope, opts.scope.as_deref());
        let max_age = opts.max_age.map(|a| a.to_string());
        let mut pairs: Vec<(&str, Cow<'_, str>)> = vec![
            ("response_type", rt.to_string().into()),
            ("client_id", self.config.client_id.as_str().into()),
            ("redirect_uri", self.config.redirect_uri.as_str().into()),
            ("scope", scope.into()),
            ("state", state.as_str().into()),
            ("nonce", nonce.as_str().into()),
        ];
        if let Some(v) = &verifier {
            pairs.push((
                "code_challenge",
                CodeChallenge::s256(v).as_str().to_owned().into(),
            ));
            pairs.push(("code_challenge_method", "S256".into()));
        }
        if let Some(mo) = opts.response_mode {
            pairs.push(("response_mode", mo.as_str().into()));
        }
        for (k, v) in [
            ("max_age", max_age.as_deref()),
            ("prompt", opts.prompt.as_deref()),
            ("login_hint", opts.login_hint.as_deref()),
            ("acr_values", opts.acr_values.as_deref()),
            ("claims", opts.claims.as_deref()),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.into()));
            }
        }
        let mut params = Params::from_pairs(pairs);
        if opts.request_object {
            params = self.request_object(m, &params)?;
        }
        let query = if opts.par || m.require_pushed_authorization_requests {
            self.push(m, &params).await?
        } else {
            params.to_form()
        };
        let sep = if m.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}{query}", m.authorization_endpoint);
        let session = LoginSession {
            issuer: issuer.to_owned(),
            state,
            nonce,
            code_verifier: verifier.map(|v| v.as_str().to_owned()),
            redirect_uri: self.config.redirect_uri.clone(),
            response_type: rt.to_string(),
            response_mode: mode.unwrap_or(rt.default_mode()).as_str().to_owned(),
            max_age: opts.max_age,
        };
        Ok((url, session))
    }

    /// The parameters as a signed request object (RFC 9101 §4): every parameter is a claim, plus `iss` (us),
    /// `aud` (the issuer), `iat`, `exp`, `jti`; only `client_id`, `request` (and `response_type`, `scope`,
    /// `redirect_uri` for OIDC Core §6.1 compatibility) stay outside.
    fn request_object(&self, m: &ProviderMetadata, params: &Params) -> Result<Params, RpError> {
        let ClientAuth::PrivateKeyJwt(jwk) = &self.config.auth else {
            return Err(RpError::Config(
                "a request object needs the client's private key (--key)".into(),
            ));
        };
        if !m.request_parameter_supported {
            return Err(RpError::Unsupported("request objects"));
        }
        let (sk, alg) = signing_material(jwk)?;
        let mut claims = Map::new();
        for (k, v) in params.iter() {
            claims.insert(k.to_owned(), Value::from(v));
        }
        let now = jwt::NumericDate::now().as_secs();
        claims.insert("iss".into(), json!(self.config.client_id));
        claims.insert("aud".into(), json!(m.issuer));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        claims.insert("jti".into(), json!(random_token()));
        let request = jwt::encode_value(
            &jws::Header::new(alg).with_typ("oauth-authz-req+jwt"),
            &claims,
            &sk,
        )?;
        // The outer copies must equal the object's; providers that route errors before verifying the object
        // (ours among them) also want the redirect URI outside.
        let keep = |k: &str| params.get(k).unwrap_or("").to_owned();
        Ok(Params::from_pairs([
            ("client_id", keep("client_id").into()),
            ("response_type", keep("response_type").into()),
            ("scope", keep("scope").into()),
            ("redirect_uri", keep("redirect_uri").into()),
            ("request", request.into()),
        ]))
    }

    /// Pushes the request (RFC 9126) and returns the query for the authorization endpoint.
    async fn push(&self, m: &ProviderMetadata, params: &Params) -> Result<String, RpError> {
        let ep = m
            .pushed_authorization_request_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("pushed authorization requests"))?;
        let (auth_pairs, header) = self.client_authentication(&m.issuer)?.to_wire();
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in params.iter() {
                form.append_pair(k, v);
            }
            // `client_id` is already among the parameters.
            for (k, v) in auth_pairs.iter().filter(|(k, _)| *k != "client_id") {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let body = self
            .post_form("pushed_authorization_request_endpoint", ep, form, header)
            .await?;
        let request_uri = body
            .get("request_uri")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| RpError::Malformed {
                endpoint: "pushed_authorization_request_endpoint",
                reason: "no request_uri".into(),
            })?;
        Ok(Params::from_pairs([
            ("client_id", self.config.client_id.as_str().into()),
            ("request_uri", request_uri.into()),
        ])
        .to_form())
    }

    /// POSTs a form and returns the JSON object of a 2xx answer; an OAuth error body becomes
    /// [`RpError::Provider`].
    async fn post_form(
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

    /// What every ID token from `issuer` must satisfy; callers add the hashes' inputs.
    fn expectations<'a>(
        &'a self,
        issuer: &'a str,
        nonce: Option<&'a str>,
        max_age: Option<u64>,
    ) -> IdTokenExpectations<'a> {
        IdTokenExpectations {
            issuer,
            client_id: &self.config.client_id,
            nonce,
            max_age,
            access_token: None,
            access_token_from_front_channel: false,
            code: None,
            leeway: self.config.leeway,
        }
    }

    async fn verify_id_token(
        &self,
        p: &Provider,
        token: &str,
        e: &IdTokenExpectations<'_>,
    ) -> Result<IdToken, RpError> {
        let algs = self.config.algorithms;
        Ok(p.jwks
            .with_keys(&self.http, |keys| verify_id_token(token, keys, algs, e))
            .await??)
    }

    /// Reads the authorization response out of the callback: verifies a JARM JWT when the session asked for one
    /// (and refuses a plain response then, and a JARM one otherwise), checks `iss`.
    async fn authorization_response(
        &self,
        p: &Provider,
        session: &LoginSession,
        cb: &Callback,
    ) -> Result<AuthorizationResponse, RpError> {
        let mode = session.response_mode()?;
        let params = cb.params();
        if mode.is_jwt() {
            let token = params.get("response").ok_or(RpError::UnexpectedResponse(
                "a JARM response was requested but the callback has no response parameter",
            ))?;
            let v = jwt::Validation::new(self.config.algorithms)
                .issuer(&p.metadata.issuer)
                .audience(&self.config.client_id);
            // Verified through the cache (an unknown kid refetches the keys once), then read.
            let t = p
                .jwks
                .with_keys(&self.http, |keys| {
                    jwt::decode::<Map<String, Value>>(token, keys, &v)
                })
                .await??;
            return Ok(AuthorizationResponse::from_verified_jarm_claims(
                &t.claims.custom,
                &p.metadata.issuer,
            ));
        }
        if params.get("response").is_some() {
            return Err(RpError::UnexpectedResponse(
                "a JARM response arrived but none was requested",
            ));
        }
        Ok(AuthorizationResponse::from_params(
            params,
            &p.metadata.issuer,
            p.metadata.authorization_response_iss_parameter_supported,
        )?)
    }

    /// Completes a login: every check listed in the crate documentation, then the code exchange when the
    /// response type has a code.
    pub async fn complete(&self, session: &LoginSession, cb: &Callback) -> Result<Login, RpError> {
        let p = self.provider(&session.issuer).await?;
        let rt = session.response_type()?;
        let resp = self.authorization_response(&p, session, cb).await?;
        // State first (constant time), then the provider's error if it sent one.
        let (AuthorizationResponse::Error { state, .. }
        | AuthorizationResponse::Success { state, .. }) = &resp;
        if !state_matches(state.as_deref(), &session.state) {
            return Err(RpError::StateMismatch);
        }
        let (code, front_id_token, front_at, expires_in) = match resp {
            AuthorizationResponse::Error {
                error, description, ..
            } => {
                return Err(RpError::Provider {
                    endpoint: "authorization",
                    error,
                    description: description.map(|d| portcullis_oidc::sanitize_description(&d)),
                });
            }
            AuthorizationResponse::Success {
                code,
                id_token,
                access_token,
                expires_in,
                ..
            } => (code, id_token, access_token, expires_in),
        };
        if code.is_some() != rt.has_code() {
            return Err(RpError::UnexpectedResponse(
                "code presence does not match the response type",
            ));
        }
        if front_id_token.is_some() != rt.has_id_token() {
            return Err(RpError::UnexpectedResponse(
                "id_token presence does not match the response type",
            ));
        }
        if front_at.is_some() != rt.has_token() {
            return Err(RpError::UnexpectedResponse(
                "access_token presence does not match the response type",
            ));
        }
        let issuer = p.metadata.issuer.as_str();
        let front = match &front_id_token {
            Some(t) => Some(
                self.verify_id_token(
                    &p,
                    t,
                    &IdTokenExpectations {
                        access_token: front_at.as_deref(),
                        access_token_from_front_channel: front_at.is_some(),
                        code: code.as_deref(),
                        ..self.expectations(issuer, Some(&session.nonce), session.max_age)
                    },
                )
                .await?,
            ),
            None => None,
        };
        let Some(code) = code else {
            // Implicit: the front-channel ID token is the login.
            let id_token = front.ok_or(RpError::MissingIdToken)?;
            return Ok(Login {
                id_token,
                id_token_raw: front_id_token.unwrap_or_default(),
                access_token: front_at,
                refresh_token: None,
                expires_in,
                scope: None,
            });
        };
        let token_ep = p
            .metadata
            .token_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("the token endpoint"))?;
        let req = TokenRequest {
            grant: Grant::AuthorizationCode {
                code,
                redirect_uri: Some(session.redirect_uri.clone()),
                code_verifier: session.code_verifier.clone(),
            },
            client: self.client_authentication(token_ep)?,
        };
        let tr = self.token_request(token_ep, &req).await?;
        let raw = tr.id_token.clone().ok_or(RpError::MissingIdToken)?;
        let back = self
            .verify_id_token(
                &p,
                &raw,
                &IdTokenExpectations {
                    access_token: Some(&tr.access_token),
                    ..self.expectations(issuer, Some(&session.nonce), session.max_age)
                },
            )
            .await?;
        if let Some(f) = &front {
            if f.claims.registered.iss != back.claims.registered.iss {
                return Err(RpError::IdTokenMismatch("iss"));
            }
            if f.claims.registered.sub != back.claims.registered.sub {
                return Err(RpError::IdTokenMismatch("sub"));
            }
        }
        Ok(Login {
            id_token: back,
            id_token_raw: raw,
            access_token: Some(tr.access_token),
            refresh_token: tr.refresh_token,
            expires_in: tr.expires_in,
            scope: tr.scope,
        })
    }

    async fn token_request(&self, url: &str, req: &TokenRequest) -> Result<TokenResponse, RpError> {
        let (body, header) = req.to_wire();
        let obj = self.post_form("token_endpoint", url, body, header).await?;
        let tr: TokenResponse =
            serde_json::from_value(Value::Object(obj)).map_err(|e| RpError::Malformed {
                endpoint: "token_endpoint",
                reason: e.to_string(),
            })?;
        if !tr.token_type.eq_ignore_ascii_case("bearer") {
            return Err(RpError::Malformed {
                endpoint: "token_endpoint",
                reason: format!("token_type {} is not Bearer", tr.token_type),
            });
        }
        if tr.access_token.is_empty() {
            return Err(RpError::Malformed {
                endpoint: "token_endpoint",
                reason: "empty access_token".into(),
            });
        }
        Ok(tr)
    }

    /// Uses a refresh token. A returned ID token is verified and must keep `iss`, `sub` and `aud` of the
    /// login's (OIDC Core §12.2).
    pub async fn refresh(
        &self,
        issuer: &str,
        login: &Login,
        refresh_token: &str,
    ) -> Result<Refreshed, RpError> {
        let p = self.provider(issuer).await?;
        let token_ep = p
            .metadata
            .token_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("the token endpoint"))?;
        let req = TokenRequest {
            grant: Grant::RefreshToken {
                refresh_token: refresh_token.to_owned(),
                scope: None,
            },
            client: self.client_authentication(token_ep)?,
        };
        let tr = self.token_request(token_ep, &req).await?;
        let id_token = match &tr.id_token {
            Some(raw) => {
                let t = self
                    .verify_id_token(
                        &p,
                        raw,
                        &IdTokenExpectations {
                            access_token: Some(&tr.access_token),
                            ..self.expectations(&p.metadata.issuer, None, None)
                        },
                    )
                    .await?;
                if t.claims.registered.sub != login.id_token.claims.registered.sub {
                    return Err(RpError::IdTokenMismatch("sub"));
                }
                Some(t)
            }
            None => None,
        };
        Ok(Refreshed {
            access_token: tr.access_token,
            refresh_token: tr.refresh_token,
            id_token,
            expires_in: tr.expires_in,
        })
    }

    /// Fetches UserInfo with the login's access token and checks its `sub` against the ID token's. A signed
    /// (`application/jwt`) answer is verified like an ID token's signature, `iss` and `aud`.
    pub async fn userinfo(
        &self,
        issuer: &str,
        login: &Login,
    ) -> Result<Map<String, Value>, RpError> {
        let at = login
            .access_token
            .as_deref()
            .ok_or(RpError::Config("no access token".into()))?;
        let claims = self.userinfo_raw(issuer, at).await?;
        if claims.get("sub").and_then(Value::as_str) != Some(login.subject()) {
            return Err(RpError::SubjectMismatch);
        }
        Ok(claims)
    }

    async fn userinfo_raw(&self, issuer: &str, at: &str) -> Result<Map<String, Value>, RpError> {
        const EP: &str = "userinfo_endpoint";
        let p = self.provider(issuer).await?;
        let url = p
            .metadata
            .userinfo_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("UserInfo"))?;
        let resp = self
            .http
            .get(url)
            .bearer_auth(at)
            .header("accept", "application/json, application/jwt")
            .send()
            .await
            .map_err(|e| http::http_error(EP, e))?;
        let status = resp.status();
        let media = http::media_type(&resp);
        let body = http::read_limited(EP, resp, MAX_RESPONSE_LEN).await?;
        if !status.is_success() {
            return Err(http::oauth_error(EP, &body).unwrap_or(RpError::Status {
                endpoint: EP,
                status: status.as_u16(),
            }));
        }
        let malformed = |reason: String| RpError::Malformed {
            endpoint: EP,
            reason,
        };
        if media == "application/jwt" {
            let text = std::str::from_utf8(&body).map_err(|e| malformed(e.to_string()))?;
            let v = jwt::Validation::new(self.config.algorithms)
                .issuer(&p.metadata.issuer)
                .audience(&self.config.client_id)
                .exp_optional();
            let t = p
                .jwks
                .with_keys(&self.http, |keys| {
                    jwt::decode::<Map<String, Value>>(text.trim(), keys, &v)
                })
                .await??;
            return Ok(t.claims.custom);
        }
        if media != "application/json" {
            return Err(malformed(format!("unexpected content type {media:?}")));
        }
        portcullis_jose::parse_strict_object(&body).map_err(|e| malformed(e.to_string()))
    }
}

fn state_matches(got: Option<&str>, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    got.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

/// Fetches `{issuer}/.well-known/openid-configuration` and validates it for `issuer` (OIDC Discovery §4.3:
/// the document's `issuer` must be exactly the one we asked about).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<ProviderMetadata, RpError> {
    const EP: &str = "discovery";
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let resp = http
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| http::http_error(EP, e))?;
    if !resp.status().is_success() {
        return Err(RpError::Status {
            endpoint: EP,
            status: resp.status().as_u16(),
        });
    }
    let body = http::read_limited(EP, resp, MAX_METADATA_LEN).await?;
    Ok(ProviderMetadata::parse_for(issuer, &body)?)
}

#[cfg(test)]
mod send_tests {
    use super::*;

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

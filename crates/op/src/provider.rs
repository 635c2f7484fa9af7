//! The provider: state, the router, and every endpoint.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use portcullis_jose::{Algorithm, AlgorithmSet, Validation, jwt};
use portcullis_oidc::{
    AuthorizationRequest, AuthorizationResponse, ClaimsRequest, ClientAuthMethod,
    ClientAuthentication, ClientCertificate, ErrorCode, Grant, IdTokenBuilder, IssuedCode,
    OidcError, Params, Prompt, PushedAuthorizationRequest, RedirectUriRule, RequestObjectPolicy,
    ResponseMode, Scope, ScopeClaims, TokenRequest, certificate_thumbprint_s256,
    check_certificate_binding, check_self_signed, client_authentication, redirect_with,
    verify_client_assertion, verify_request_object,
};
use portcullis_pairwise::{PairwiseSecret, SubjectType, subject_for};
use portcullis_pkce::{CodeChallenge, Policy};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::clients::Client;
use crate::config::Config;
use crate::keys::{KeyRing, SIGNING_ALGS};
use crate::login::{LoginMethod, LoginPage, PasswordLogin};
use crate::sealing::{CodeContents, CodeSealer};
use crate::store::{
    CodeGrant, CodeRow, CodeTokens, Consumed, GrantRow, PendingRow, SessionRow, Store, StoreError,
    TokenKey, UserRow, grant_access_token,
};
use crate::tls::{PeerCertificate, Tls};
use crate::web::{self, PAGE_CSP};
use crate::{hash, new_token, now, pages, random_token, time_ordered_id};

/// Algorithms accepted for `private_key_jwt` assertions.
const ASSERTION_ALGS: [Algorithm; 7] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::EdDsa,
];
/// Algorithms accepted for `client_secret_jwt` assertions (a client may register one of them).
const HMAC_ASSERTION_ALGS: [Algorithm; 3] = [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512];

/// How long a pending login/consent request or a pushed request lives.
const PENDING_LIFETIME: i64 = 600;
const PAR_LIFETIME: i64 = 60;

/// The running provider's shared state.
pub struct Provider {
    /// Configuration in effect.
    pub cfg: Config,
    /// Storage.
    pub store: Store,
    keys: RwLock<Arc<KeyRing>>,
    scope_claims: ScopeClaims,
    pairwise: PairwiseSecret,
    sealer: crate::sealing::SecretSealer,
    codes: crate::sealing::CodeSealer,
    metadata: String,
    /// Parsed clients, each kept for [`CLIENT_CACHE_SECS`] (registration changes made on another node or by the
    /// admin command reach this node within that time).
    clients: RwLock<ClientCache>,
    /// Parsed user claims by user id, each with the stored text it was parsed from (see
    /// [`Provider::user_claims`]).
    claims: RwLock<ClaimsCache>,
    /// TLS material when serving HTTPS (mutual-TLS client authentication needs it).
    pub tls: Option<Arc<Tls>>,
    /// The login step.
    login: Box<dyn LoginMethod>,
}

/// Parsed user claims by user id, with the text each was parsed from.
type ClaimsCache = std::collections::HashMap<String, (String, Arc<Map<String, Value>>)>;

/// Parsed registrations by `client_id`, with when each was read (`None`: no such client).
type ClientCache = std::collections::HashMap<String, (i64, Option<Arc<Client>>)>;

/// How many users' parsed claims [`Provider::user_claims`] keeps.
pub const CLAIMS_CACHE: usize = 4096;

/// How long a parsed client registration is reused.
pub const CLIENT_CACHE_SECS: i64 = 5;

/// An error at an endpoint, already in its HTTP form.
type HttpResult<T> = Result<T, Response>;

fn db(e: StoreError) -> Response {
    tracing::error!("storage: {e}");
    web::unavailable()
}

impl Provider {
    /// Opens the store, loads (or creates) keys and the pairwise secret.
    pub async fn new(
        cfg: Config,
        store: Store,
        tls: Option<Arc<Tls>>,
    ) -> Result<Arc<Provider>, StoreError> {
        Self::with_login(cfg, store, tls, Box::new(PasswordLogin)).await
    }

    /// Like [`new`](Self::new) with another login step.
    pub async fn with_login(
        cfg: Config,
        store: Store,
        tls: Option<Arc<Tls>>,
        login: Box<dyn LoginMethod>,
    ) -> Result<Arc<Provider>, StoreError> {
        let t = now();
        let keys = KeyRing::load(&store, t, cfg.retired_key_lifetime as i64).await?;
        let secret = store
            .setting_or_insert("pairwise_secret", &random_token())
            .await?;
        let secret = portcullis_jose::base64url::decode(&secret)
            .map_err(|_| StoreError::Corrupt("pairwise secret".into()))?;
        let pairwise = PairwiseSecret::new(1, &secret)
            .map_err(|e| StoreError::Corrupt(format!("pairwise secret: {e}")))?;
        let sealer = crate::sealing::SecretSealer::load(&store).await?;
        let codes = crate::sealing::CodeSealer::load(&store).await?;
        let metadata = metadata(&cfg, tls.is_some(), login.acr()).to_string();
        Ok(Arc::new(Provider {
            scope_claims: cfg.scope_claims(),
            cfg,
            store,
            keys: RwLock::new(Arc::new(keys)),
            pairwise,
            sealer,
            codes,
            metadata,
            clients: RwLock::new(std::collections::HashMap::new()),
            claims: RwLock::new(std::collections::HashMap::new()),
            tls,
            login,
        }))
    }

    /// The grant id a sealed authorization code carries, if `code` is one this provider issued (it opens
    /// under this database's code key): the grant is stored under that id when the code is redeemed.
    pub fn sealed_code_grant(&self, code: &str) -> Option<String> {
        self.codes.open(code).map(|c| c.grant_id)
    }

    /// A user's claims, parsed (a claims text that is not a JSON object counts as no claims). Parsed once per
    /// distinct text: the cache entry is used only while the row read for this request carries exactly the
    /// text it was parsed from, so a change made anywhere is seen at once. At most [`CLAIMS_CACHE`] users are
    /// kept; the cache starts over when full.
    fn user_claims(&self, user: &UserRow) -> Arc<Map<String, Value>> {
        if let Some((text, parsed)) = self
            .claims
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user.id)
            && *text == user.claims
        {
            return parsed.clone();
        }
        let parsed: Arc<Map<String, Value>> =
            Arc::new(serde_json::from_str(&user.claims).unwrap_or_default());
        let mut cache = self.claims.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CLAIMS_CACHE {
            cache.clear();
        }
        cache.insert(user.id.clone(), (user.claims.clone(), parsed.clone()));
        parsed
    }

    /// Reloads signing keys from the store (after `keys rotate` on any node).
    pub async fn reload_keys(&self) -> Result<(), StoreError> {
        let ring = KeyRing::from_rows(
            &self.store.keys().await?,
            now(),
            self.cfg.retired_key_lifetime as i64,
        )?;
        *self.keys.write().expect("key lock") = Arc::new(ring);
        Ok(())
    }

    fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().expect("key lock").clone()
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.issuer)
    }

    async fn client(&self, id: &str) -> HttpResult<Option<Arc<Client>>> {
        let t = now();
        if let Some((at, c)) = self.clients.read().expect("client cache").get(id)
            && t - at < CLIENT_CACHE_SECS
        {
            return Ok(c.clone());
        }
        let c = self.load_client(id).await?;
        let mut cache = self.clients.write().expect("client cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(id.to_owned(), (t, c.clone()));
        Ok(c)
    }

    async fn load_client(&self, id: &str) -> HttpResult<Option<Arc<Client>>> {
        match self.store.client(id).await.map_err(db)? {
            None => Ok(None),
            Some(row) => match Client::from_row(&row) {
                Ok(c) => Ok(Some(Arc::new(c))),
                Err(e) => {
                    tracing::warn!("client {id} has unusable metadata: {e}");
                    Ok(None)
                }
            },
        }
    }

    fn subject(&self, client: &Client, user_id: &str) -> String {
        match (&client.sector, client.subject_type) {
            (Some(sector), SubjectType::Pairwise) => {
                subject_for(SubjectType::Pairwise, &self.pairwise, sector, user_id)
            }
            _ => user_id.to_owned(),
        }
    }

    fn secure_cookies(&self) -> bool {
        self.cfg.issuer.starts_with("https://")
    }
}

/// The discovery document.
fn metadata(cfg: &Config, mtls: bool, acr: &str) -> Value {
    let iss = &cfg.issuer;
    let mut scopes: Vec<String> = [
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "offline_access",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    scopes.extend(cfg.scopes.keys().cloned());
    let algs: Vec<&str> = SIGNING_ALGS.iter().map(|a| a.as_str()).collect();
    let assertion_algs: Vec<&str> = ASSERTION_ALGS
        .iter()
        .chain(&HMAC_ASSERTION_ALGS)
        .map(|a| a.as_str())
        .collect();
    let mut m = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "end_session_endpoint": format!("{iss}/end_session"),
        "pushed_authorization_request_endpoint": format!("{iss}/par"),
        "scopes_supported": scopes,
        "response_types_supported": ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post", "jwt", "query.jwt", "fragment.jwt", "form_post.jwt"],
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": [],
        "request_object_signing_alg_values_supported": algs,
        "authorization_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
                             "name", "given_name", "family_name", "nickname", "preferred_username", "picture",
                             "email", "email_verified", "phone_number", "address", "payment_details"],
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": true,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": [acr],
        "display_values_supported": ["page"],
        "ui_locales_supported": ["en"],
    });
    if mtls {
        m["token_endpoint_auth_methods_supported"] = json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ]);
        m["tls_client_certificate_bound_access_tokens"] = json!(true);
    }
    m
}

/// The router with every endpoint.
pub fn router(p: Arc<Provider>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize).post(authorize))
        .route("/login", post(login))
        .route("/consent", post(consent))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/revoke", post(revoke))
        .route("/introspect", post(introspect))
        .route("/par", post(par))
        .route("/end_session", get(end_session).post(end_session))
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async {
            web::oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(axum::middleware::from_fn_with_state(p.clone(), front))
        .with_state(p)
}

/// In front of every endpoint (one layer, not two: each costs a boxed future per request):
/// - refuses header blocks larger than the configured limit (431), whatever the transport's buffering did;
/// - logs each request (method, path — never the query, which may carry codes or tokens — status, time) at
///   `debug` level, and every 5xx at `warn`.
async fn front(
    State(p): State<Arc<Provider>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    // (A clone of the URI shares its bytes; the path is only formatted if something is logged.)
    let uri = req.uri().clone();
    let resp = if header_block_len(&req) > p.cfg.max_request_bytes {
        web::oauth_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "request headers too large",
        )
    } else {
        next.run(req).await
    };
    let status = resp.status();
    if status.is_server_error() {
        let micros = started.elapsed().as_micros();
        tracing::warn!(%method, path = uri.path(), status = status.as_u16(), micros, "request");
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        let micros = started.elapsed().as_micros();
        tracing::debug!(%method, path = uri.path(), status = status.as_u16(), micros, "request");
    }
    resp
}

/// The size of a request's header block as [`front`] counts it: each header's name and value plus 4 (`: `
/// and CRLF), and the request target.
fn header_block_len(req: &axum::extract::Request) -> usize {
    let uri = req.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri
            .path_and_query()
            .map_or(uri.path().len(), |pq| pq.as_str().len());
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + target
}

async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    let mut r = Response::new(Body::from(p.metadata.clone()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}

async fn jwks(State(p): State<Arc<Provider>>) -> Response {
    let mut r = Response::new(Body::from(p.keys().jwks_json().to_owned()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=60"),
    );
    r
}

// ------------------------------------------------------------------------------------------------
// Authorization endpoint
// ------------------------------------------------------------------------------------------------

/// An authorization request whose client and redirect URI are established: errors from here on go back to
/// the client.
struct Validated {
    client: Arc<Client>,
    req: AuthorizationRequest,
    redirect_uri: String,
    mode: ResponseMode,
    /// Whether the request came through PAR (`request_uri`).
    from_par: bool,
}

/// Where to send an authorization error once the redirect URI is trusted.
struct ErrorTarget {
    client: Arc<Client>,
    redirect_uri: String,
    mode: ResponseMode,
    state: Option<String>,
}

fn pkce_policy() -> Policy {
    Policy::default()
}

impl Provider {
    /// Sends an authorization response (success or error) to the client in its response mode.
    /// Sends an authorization response (success or error) to the client in its response mode: query or
    /// fragment redirect, auto-submitting form, or any of those carrying a JARM response JWT.
    fn deliver(
        &self,
        client: &Client,
        redirect_uri: &str,
        mode: ResponseMode,
        resp: &AuthorizationResponse,
    ) -> Response {
        let params = if mode.is_jwt() {
            let keys = self.keys();
            let signed = keys
                .signer(client.jarm_alg)
                .map(|key| resp.to_jarm(&client.id, 300, client.jarm_alg, key));
            match signed {
                Some(Ok(jwt)) => Params::from_pairs([("response", jwt.into())]),
                _ => return web::unavailable(),
            }
        } else {
            resp.to_params()
        };
        match mode {
            ResponseMode::FormPost | ResponseMode::FormPostJwt => web::html(
                StatusCode::OK,
                pages::form_post(redirect_uri, &params),
                web::FORM_POST_CSP,
            ),
            _ => match redirect_with(redirect_uri, mode, &params) {
                Ok(url) => web::redirect(&url),
                Err(_) => web::error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the redirect URI cannot carry a response",
                ),
            },
        }
    }

    fn auth_error(&self, t: &ErrorTarget, code: ErrorCode, description: &str) -> Response {
        let resp = AuthorizationResponse::Error {
            error: code,
            description: Some(description.to_owned()),
            state: t.state.clone(),
            iss: self.cfg.issuer.clone(),
        };
        self.deliver(&t.client, &t.redirect_uri, t.mode, &resp)
    }

    /// Steps 1–2 of the authorization endpoint: establish the client and the redirect URI. Everything that
    /// fails before that is an error page, never a redirect.
    async fn validate_authorization(
        &self,
        raw: &Params,
    ) -> HttpResult<Result<Validated, (ErrorTarget, OidcError)>> {
        let page = |code: &str, d: &str| web::error_page(StatusCode::BAD_REQUEST, code, d);
        let Some(client_id) = raw.get("client_id") else {
            return Err(page("invalid_request", "client_id is missing"));
        };
        let Some(client) = self.client(client_id).await? else {
            return Err(page("invalid_client", "unknown client_id"));
        };
        // A pushed request (RFC 9126) replaces the query entirely; the client_id must agree.
        let (params, from_par) = match raw.get("request_uri") {
            Some(uri) => {
                if !portcullis_oidc::is_par_request_uri(uri) {
                    return Err(page(
                        "invalid_request_uri",
                        "request_uri must come from the PAR endpoint",
                    ));
                }
                let id = &uri[portcullis_oidc::PAR_REQUEST_URI_PREFIX.len()..];
                let Some(row) = self.store.pending(id, "par", now()).await.map_err(db)? else {
                    return Err(page(
                        "invalid_request_uri",
                        "unknown or expired request_uri",
                    ));
                };
                if row.client_id != client.id {
                    return Err(page(
                        "invalid_request_uri",
                        "request_uri belongs to another client",
                    ));
                }
                // Single use.
                if !self.store.take_pending(id).await.map_err(db)? {
                    return Err(page("invalid_request_uri", "request_uri already used"));
                }
                (
                    Params::parse(&row.params)
                        .map_err(|_| page("invalid_request", "stored request"))?,
                    true,
                )
            }
            None => (raw.clone(), false),
        };
        let redirect_uri = params.get("redirect_uri");
        let redirect_uri = match redirect_uri {
            Some(r) if RedirectUriRule::Exact.matches(&client.meta.redirect_uris, r) => {
                r.to_owned()
            }
            Some(_) => {
                return Err(page(
                    "invalid_request",
                    "redirect_uri is not registered for this client",
                ));
            }
            None => return Err(page("invalid_request", "redirect_uri is missing")),
        };
        // The redirect URI is trusted from here on. Work out the response mode for errors.
        let rt = params
            .get("response_type")
            .and_then(|r| portcullis_oidc::ResponseType::parse(r).ok());
        let mode = params
            .get("response_mode")
            .and_then(|m| ResponseMode::parse(m).ok())
            .map(|m| match rt {
                Some(rt) => m.resolve(rt),
                None => m.resolve(portcullis_oidc::ResponseType::CODE),
            })
            .unwrap_or_else(|| rt.map(|r| r.default_mode()).unwrap_or(ResponseMode::Query));
        let target = ErrorTarget {
            client: client.clone(),
            redirect_uri: redirect_uri.clone(),
            mode,
            state: params.get("state").map(str::to_owned),
        };
        // A signed request object (RFC 9101) carries the whole request.
        let parsed = match params.get("request") {
            Some(_) if from_par => Err(OidcError::InvalidParameter("request")),
            Some(obj) => match &client.jwks {
                None => Err(OidcError::RequestObject(
                    "the client has no registered keys",
                )),
                Some(keys) => {
                    let algs = AlgorithmSet::from(SIGNING_ALGS);
                    verify_request_object(
                        obj,
                        &client.id,
                        &self.cfg.issuer,
                        keys,
                        &RequestObjectPolicy::new(algs),
                        &pkce_policy(),
                    )
                }
            },
            None => AuthorizationRequest::from_params(&params, &pkce_policy()),
        };
        let req = match parsed {
            Ok(r) => r,
            Err(e) => return Ok(Err((target, e))),
        };
        // The request object's redirect_uri must also be registered (it replaced the query's).
        if req.redirect_uri.as_deref() != Some(redirect_uri.as_str()) {
            return Err(page(
                "invalid_request",
                "redirect_uri differs inside the request object",
            ));
        }
        let mode = req.effective_response_mode();
        Ok(Ok(Validated {
            client,
            req,
            redirect_uri,
            mode,
            from_par,
        }))
    }

    /// The client-level rules once the request parsed.
    fn check_request(&self, v: &Validated) -> Result<(), OidcError> {
        let req = &v.req;
        if !req.scope.contains("openid") {
            return Err(OidcError::InvalidScope);
        }
        v.client.perms.check_response_type(req.response_type)?;
        if req.response_type.is_front_channel_token() && !v.client.perms.implicit {
            return Err(OidcError::UnauthorizedClient(
                "implicit grant not registered",
            ));
        }
        v.client.perms.grant_scope(Some(&req.scope), &req.scope)?;
        if req.response_type.has_code() && v.client.require_pkce && req.code_challenge.is_none() {
            return Err(OidcError::MissingParameter("code_challenge"));
        }
        if let Some(c) = &req.claims {
            c.required_sub()?;
        }
        Ok(())
    }

    async fn current_session(
        &self,
        headers: &HeaderMap,
    ) -> HttpResult<Option<(String, SessionRow)>> {
        let Some(token) = web::cookie(headers, web::SESSION_COOKIE) else {
            return Ok(None);
        };
        let h = hash(token);
        Ok(self
            .store
            .session(&h, now())
            .await
            .map_err(db)?
            .map(|s| (h, s)))
    }

    /// The `sub` an `id_token_hint` names, if it is an ID token we issued to this client (expired ones are
    /// accepted as hints, OIDC Core §3.1.2.1).
    fn hint_subject(&self, hint: &str, client: &Client) -> Option<String> {
        let keys = self.keys();
        let algs = AlgorithmSet::from(SIGNING_ALGS);
        let v = Validation::new(algs)
            .issuer(self.cfg.issuer.clone())
            .audience(client.id.clone())
            .without_time_checks();
        let t: jwt::Jwt<Map<String, Value>> = jwt::decode(hint, keys.public(), &v).ok()?;
        t.claims.registered.sub
    }
}

async fn authorize(
    State(p): State<Arc<Provider>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let raw = if method == Method::POST {
        let bytes = match web::read_body(body, p.cfg.max_request_bytes).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        match web::form_body(&headers, &bytes) {
            Ok(p) => p,
            Err(e) => {
                return web::error_page(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string());
            }
        }
    } else {
        match Params::parse(query.as_deref().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => {
                return web::error_page(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string());
            }
        }
    };
    authorize_params(&p, &headers, &raw)
        .await
        .unwrap_or_else(|r| r)
}

async fn authorize_params(p: &Provider, headers: &HeaderMap, raw: &Params) -> HttpResult<Response> {
    let v = match p.validate_authorization(raw).await? {
        Ok(v) => v,
        Err((target, e)) => return Ok(p.auth_error(&target, e.code(), &e.to_string())),
    };
    let target = ErrorTarget {
        client: v.client.clone(),
        redirect_uri: v.redirect_uri.clone(),
        mode: v.mode,
        state: v.req.state.clone(),
    };
    if let Err(e) = p.check_request(&v) {
        return Ok(p.auth_error(&target, e.code(), &e.to_string()));
    }
    // RFC 9126 §6: a client registered with require_pushed_authorization_requests sends only request_uri (checked
    // on arrival; a request resumed after login or consent was checked when it arrived).
    if v.client.require_par && !v.from_par {
        let e = OidcError::MissingParameter("request_uri");
        return Ok(p.auth_error(&target, e.code(), &e.to_string()));
    }
    // OIDC Core §5.5.1.1: an essential `acr` the login step cannot produce is a failed authentication, found
    // out before asking the user anything (a voluntary one is answered with the acr we have).
    if let Some((values, true)) = v.req.claims.as_ref().and_then(|c| c.acr())
        && !values.is_empty()
        && !values.contains(&p.login.acr())
    {
        return Ok(p.auth_error(
            &target,
            ErrorCode::UnmetAuthenticationRequirements,
            "the essential acr cannot be satisfied",
        ));
    }
    let req = &v.req;
    let prompt_none = req.prompt.contains(&Prompt::None);
    // The session, its user and their consent for this client: one read.
    let context = match web::cookie(headers, web::SESSION_COOKIE) {
        Some(token) => p
            .store
            .session_context(&hash(token), &v.client.id, now())
            .await
            .map_err(db)?,
        None => None,
    };
    let session = context.as_ref().map(|c| &c.session);
    let t = now();
    // Does the current session satisfy the request?
    let mut need_login = session.is_none() || req.prompt.contains(&Prompt::Login);
    if let (Some(s), Some(max_age)) = (session, req.max_age)
        // OIDC Core §3.1.2.1: re-authenticate when more than max_age seconds passed; max_age=0 always.
        && (max_age == 0 || (t - s.auth_time).max(0) as u64 > max_age)
    {
        need_login = true;
    }
    if let Some(s) = session {
        let sub = p.subject(&v.client, &s.user_id);
        if let Some(hint) = &req.id_token_hint {
            match p.hint_subject(hint, &v.client) {
                Some(hsub) if hsub == sub => {}
                Some(_) if prompt_none => {
                    return Ok(p.auth_error(
                        &target,
                        ErrorCode::LoginRequired,
                        "id_token_hint names another user",
                    ));
                }
                Some(_) => need_login = true,
                None => {
                    return Ok(p.auth_error(
                        &target,
                        ErrorCode::InvalidRequest,
                        "id_token_hint is not a valid ID token from this provider",
                    ));
                }
            }
        }
        if let Some(Some(required)) = req.claims.as_ref().map(|c| c.required_sub().ok().flatten())
            && required != sub
        {
            if prompt_none {
                return Ok(p.auth_error(
                    &target,
                    ErrorCode::LoginRequired,
                    "the claims request names another user",
                ));
            }
            need_login = true;
        }
    }
    if need_login && prompt_none {
        return Ok(p.auth_error(
            &target,
            ErrorCode::LoginRequired,
            "prompt=none but the user must log in",
        ));
    }
    let context = match context {
        Some(c) if !need_login => c,
        // No session, or one that does not satisfy the request: the login page.
        _ => {
            let pending = pending_for(&v, t);
            p.store.put_pending(&pending).await.map_err(db)?;
            return Ok(web::html_csp(
                StatusCode::OK,
                p.login.page(&LoginPage {
                    pending: &pending.id,
                    csrf: &pending.csrf,
                    client_name: &v.client.name,
                    login_hint: req.login_hint.as_deref(),
                    error: None,
                }),
                &web::form_page_csp(&v.redirect_uri),
            ));
        }
    };
    let known = Known {
        user: context.user,
        consent: context.consent,
    };
    after_login(p, v, context.session, Some(known), None).await
}

/// The stored form of an authorization request that waits for the user (login or consent), with fresh ids.
/// Built only when a page is shown: the hot path (a session that satisfies the request) needs none.
fn pending_for(v: &Validated, t: i64) -> PendingRow {
    PendingRow {
        id: random_token(),
        kind: "authorize".into(),
        client_id: v.client.id.clone(),
        params: v.req.to_params().to_form(),
        csrf: random_token(),
        expires_at: t + PENDING_LIFETIME,
    }
}

/// What the session lookup read next to the session, so the hot path does not read it again.
struct Known {
    user: Option<UserRow>,
    consent: Option<String>,
}

/// After the user is known: consent, then the response. `pending` is the request's stored form if it has one
/// (after a login); otherwise one is made from `v` should the consent page be needed.
async fn after_login(
    p: &Provider,
    v: Validated,
    session: SessionRow,
    known: Option<Known>,
    pending: Option<PendingRow>,
) -> HttpResult<Response> {
    let target = ErrorTarget {
        client: v.client.clone(),
        redirect_uri: v.redirect_uri.clone(),
        mode: v.mode,
        state: v.req.state.clone(),
    };
    let (user, consent) = match known {
        Some(k) => (k.user, k.consent),
        None => (
            None,
            p.store
                .consent(&session.user_id, &v.client.id)
                .await
                .map_err(db)?,
        ),
    };
    let consented = consent
        .map(|s| Scope::parse(&s).unwrap_or_default())
        .unwrap_or_default();
    let covered = v.req.scope.iter().all(|s| consented.contains(s));
    if !covered || v.req.prompt.contains(&Prompt::Consent) {
        if v.req.prompt.contains(&Prompt::None) {
            return Ok(p.auth_error(
                &target,
                ErrorCode::ConsentRequired,
                "prompt=none but consent is needed",
            ));
        }
        // The consent form is bound to the session that will answer it: a consent page obtained by someone
        // else cannot be submitted from the victim's browser (the session id is the CSRF token's suffix).
        let pending = PendingRow {
            csrf: format!("{}.{}", random_token(), session.sid),
            ..pending.unwrap_or_else(|| pending_for(&v, now()))
        };
        p.store.put_pending(&pending).await.map_err(db)?;
        let scopes: Vec<&str> = v.req.scope.iter().collect();
        return Ok(web::html_csp(
            StatusCode::OK,
            pages::consent(&pending.id, &pending.csrf, &v.client.name, &scopes),
            &web::form_page_csp(&v.redirect_uri),
        ));
    }
    issue_authorization(p, &v, &session, user).await
}

/// Issues the code / tokens of a successful authorization and sends them.
async fn issue_authorization(
    p: &Provider,
    v: &Validated,
    session: &SessionRow,
    known_user: Option<UserRow>,
) -> HttpResult<Response> {
    let t = now();
    let req = &v.req;
    let client = &v.client;
    let user = match known_user.filter(|u| u.id == session.user_id) {
        Some(u) => Some(u),
        None => p.store.user(&session.user_id).await.map_err(db)?,
    };
    let Some(user) = user else {
        return Err(web::error_page(
            StatusCode::BAD_REQUEST,
            "login_required",
            "the user no longer exists",
        ));
    };
    let rt = req.response_type;
    let grant_id = time_ordered_id();
    let access = rt.has_token().then(new_token);
    let grant = GrantRow {
        id: grant_id.clone(),
        client_id: client.id.clone(),
        user_id: Some(user.id.clone()),
        scope: req.scope.to_string(),
        claims: req.claims.as_ref().map(ClaimsRequest::to_json),
        auth_time: Some(session.auth_time),
        nonce: req.nonce.clone(),
        sid: Some(session.sid.clone()),
        cnf: None,
        revoked: false,
    };
    let code_row = rt.has_code().then(|| CodeRow {
        grant_id: grant_id.clone(),
        client_id: client.id.clone(),
        redirect_uri: Some(v.redirect_uri.clone()),
        code_challenge: req.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
        code_challenge_method: req
            .code_challenge
            .as_ref()
            .map(|c| c.method().as_str().to_owned()),
        expires_at: t + p.cfg.code_lifetime as i64,
    });
    // A code without an access token beside it carries its grant, sealed: nothing is written until it is
    // redeemed. (With an access token the grant must exist now; an oversized grant is stored too.)
    let sealed = code_row
        .as_ref()
        .filter(|_| access.is_none())
        .and_then(|c| {
            p.codes.seal(&CodeContents {
                grant_id: grant_id.clone(),
                client_id: client.id.clone(),
                user_id: user.id.clone(),
                scope: grant.scope.clone(),
                claims: grant.claims.clone(),
                auth_time: session.auth_time,
                nonce: grant.nonce.clone(),
                sid: session.sid.clone(),
                redirect_uri: v.redirect_uri.clone(),
                code_challenge: c
                    .code_challenge
                    .clone()
                    .zip(c.code_challenge_method.clone()),
                expires_at: c.expires_at,
            })
        });
    let stateless = sealed.is_some();
    // A stored code is a random handle (only its hash is kept).
    let code = sealed.or_else(|| rt.has_code().then(new_token));
    let code_hash = code
        .as_deref()
        .filter(|_| !stateless)
        .map(|c| TokenKey::of(c).key);
    let at_hash = access.as_deref().map(|a| TokenKey::of(a).key);
    let scope_text = req.scope.to_string();
    if !stateless {
        p.store
            .issue(
                &grant,
                code_hash.as_deref().zip(code_row.as_ref()),
                at_hash.as_deref().map(|h| {
                    (
                        h,
                        scope_text.as_str(),
                        t + p.cfg.access_token_lifetime as i64,
                        // Front-channel tokens cannot be bound (RFC 8705 §6.4).
                        None,
                    )
                }),
                None,
                t,
            )
            .await
            .map_err(db)?;
    }
    let id_token = if rt.has_id_token() {
        Some(
            p.id_token(
                client,
                &user,
                &grant,
                access.as_deref(),
                code.as_deref(),
                req.state.as_deref(),
                !rt.has_token() && !rt.has_code(),
            )
            .map_err(|e| web::error_page(StatusCode::BAD_REQUEST, "server_error", &e))?,
        )
    } else {
        None
    };
    let resp = AuthorizationResponse::Success {
        code,
        id_token,
        access_token: access,
        expires_in: rt.has_token().then_some(p.cfg.access_token_lifetime),
        state: req.state.clone(),
        iss: p.cfg.issuer.clone(),
    };
    Ok(p.deliver(client, &v.redirect_uri, v.mode, &resp))
}

impl Provider {
    /// What the background purge ([`Store::purge_expired`]) waits for: the configured lifetimes, and an hour
    /// for grants left without tokens.
    pub fn purge_ages(&self) -> crate::store::PurgeAges {
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        crate::store::PurgeAges {
            code: secs(self.cfg.code_lifetime),
            access_token: secs(self.cfg.access_token_lifetime),
            refresh_token: secs(self.cfg.refresh_token_lifetime),
            grant: 3600,
        }
    }

    /// Signs an ID token for a grant.
    #[allow(clippy::too_many_arguments)]
    fn id_token(
        &self,
        client: &Client,
        user: &UserRow,
        grant: &GrantRow,
        access_token: Option<&str>,
        code: Option<&str>,
        state: Option<&str>,
        scope_claims_in_id_token: bool,
    ) -> Result<String, String> {
        let sub = self.subject(client, &user.id);
        let mut b = IdTokenBuilder::new(&self.cfg.issuer, &sub, &client.id)
            .lifetime(self.cfg.id_token_lifetime)
            .acr(self.login.acr())
            .amr(self.login.amr())
            .azp(&client.id);
        if let Some(n) = &grant.nonce {
            b = b.nonce(n);
        }
        if let Some(a) = grant.auth_time {
            b = b.auth_time(a as u64);
        }
        if let Some(s) = &grant.sid {
            b = b.sid(s);
        }
        if let Some(a) = access_token {
            b = b.access_token(a);
        }
        if let Some(c) = code {
            b = b.code(c);
        }
        if let Some(s) = state {
            b = b.state(s);
        }
        let all = self.user_claims(user);
        let scope = Scope::parse(&grant.scope).unwrap_or_default();
        let claims_req = grant
            .claims
            .as_deref()
            .and_then(|c| ClaimsRequest::parse(c).ok());
        for (k, v) in self.scope_claims.id_token_claims(
            &all,
            &scope,
            claims_req.as_ref(),
            !scope_claims_in_id_token,
        ) {
            b = b.claim(&k, v);
        }
        let keys = self.keys();
        let key = keys
            .signer(client.id_token_alg)
            .ok_or("no key for the client's algorithm")?;
        b.sign(client.id_token_alg, key).map_err(|e| e.to_string())
    }
}

// ------------------------------------------------------------------------------------------------
// Login and consent
// ------------------------------------------------------------------------------------------------

/// Loads a pending request named in a login/consent form, checking its CSRF token.
async fn pending_from_form(p: &Provider, form: &Params) -> HttpResult<(PendingRow, Validated)> {
    let bad = |d: &str| web::error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let id = form.get("pending").ok_or_else(|| bad("missing request"))?;
    let csrf = form.get("csrf").ok_or_else(|| bad("missing CSRF token"))?;
    let row = p
        .store
        .pending(id, "authorize", now())
        .await
        .map_err(db)?
        .ok_or_else(|| bad("the sign-in request expired; start again from the application"))?;
    if !bool::from(row.csrf.as_bytes().ct_eq(csrf.as_bytes())) {
        return Err(web::error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "CSRF token mismatch",
        ));
    }
    let params = Params::parse(&row.params).map_err(|_| bad("stored request"))?;
    let v = match p.validate_authorization(&params).await? {
        Ok(v) => v,
        Err(_) => return Err(bad("the stored request is no longer valid")),
    };
    Ok((row, v))
}

async fn read_form(p: &Provider, headers: &HeaderMap, body: Body) -> HttpResult<Params> {
    let bytes = web::read_body(body, p.cfg.max_request_bytes).await?;
    web::form_body(headers, &bytes)
        .map_err(|e| web::error_page(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()))
}

async fn login(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    login_inner(&p, &headers, body).await.unwrap_or_else(|r| r)
}

async fn login_inner(p: &Provider, headers: &HeaderMap, body: Body) -> HttpResult<Response> {
    let form = read_form(p, headers, body).await?;
    let (row, v) = pending_from_form(p, &form).await?;
    let user = p.login.verify(&p.store, &form).await.map_err(db)?;
    let Some(user) = user else {
        return Ok(web::html_csp(
            StatusCode::UNAUTHORIZED,
            p.login.page(&LoginPage {
                pending: &row.id,
                csrf: &row.csrf,
                client_name: &v.client.name,
                login_hint: form.get("username"),
                error: Some(p.login.failure_message()),
            }),
            &web::form_page_csp(&v.redirect_uri),
        ));
    };
    let t = now();
    let token = random_token();
    let session = SessionRow {
        sid: random_token(),
        user_id: user.id.clone(),
        auth_time: t,
        expires_at: t + p.cfg.session_lifetime as i64,
    };
    p.store
        .put_session(&hash(&token), &session)
        .await
        .map_err(db)?;
    if !p.store.take_pending(&row.id).await.map_err(db)? {
        return Err(web::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request already completed",
        ));
    }
    let fresh = PendingRow {
        id: random_token(),
        csrf: random_token(),
        ..row
    };
    let mut resp = after_login(p, v, session, None, Some(fresh)).await?;
    if let Ok(h) = HeaderValue::from_str(&web::session_cookie(
        &token,
        p.cfg.session_lifetime,
        p.secure_cookies(),
    )) {
        resp.headers_mut().append(header::SET_COOKIE, h);
    }
    Ok(resp)
}

async fn consent(State(p): State<Arc<Provider>>, headers: HeaderMap, body: Body) -> Response {
    consent_inner(&p, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn consent_inner(p: &Provider, headers: &HeaderMap, body: Body) -> HttpResult<Response> {
    let form = read_form(p, headers, body).await?;
    let (row, v) = pending_from_form(p, &form).await?;
    let Some((_, session)) = p.current_session(headers).await? else {
        return Err(web::error_page(
            StatusCode::FORBIDDEN,
            "login_required",
            "no session",
        ));
    };
    if !row.csrf.ends_with(&format!(".{}", session.sid)) {
        return Err(web::error_page(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "this consent request belongs to another session",
        ));
    }
    if !p.store.take_pending(&row.id).await.map_err(db)? {
        return Err(web::error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request already completed",
        ));
    }
    if form.get("decision") != Some("allow") {
        let target = ErrorTarget {
            client: v.client.clone(),
            redirect_uri: v.redirect_uri.clone(),
            mode: v.mode,
            state: v.req.state.clone(),
        };
        return Ok(p.auth_error(&target, ErrorCode::AccessDenied, "the user denied access"));
    }
    // Remember the union of what was consented before and now.
    let mut scope = p
        .store
        .consent(&session.user_id, &v.client.id)
        .await
        .map_err(db)?
        .unwrap_or_default();
    for s in v.req.scope.iter() {
        if !scope.split(' ').any(|x| x == s) {
            if !scope.is_empty() {
                scope.push(' ');
            }
            scope.push_str(s);
        }
    }
    p.store
        .put_consent(&session.user_id, &v.client.id, &scope)
        .await
        .map_err(db)?;
    issue_authorization(p, &v, &session, None).await
}

// ------------------------------------------------------------------------------------------------
// Token endpoint and friends
// ------------------------------------------------------------------------------------------------

impl Provider {
    /// Authenticates the client of a back-channel request.
    async fn authenticate(
        &self,
        auth: &ClientAuthentication,
        peer: Option<&[u8]>,
    ) -> Result<Arc<Client>, OidcError> {
        let fail = OidcError::ClientAuthentication("client authentication failed");
        let client_id = match auth {
            ClientAuthentication::JwtAssertion {
                client_id: None,
                assertion,
            } => {
                // The assertion's iss names the client; verified below.
                portcullis_jose::jws::decode_unverified(assertion)
                    .ok()
                    .and_then(|u| serde_json::from_slice::<Map<String, Value>>(&u.payload).ok())
                    .and_then(|m| m.get("iss").and_then(Value::as_str).map(str::to_owned))
                    .ok_or(fail.clone())?
            }
            other => other.client_id().ok_or(fail.clone())?.to_owned(),
        };
        let client = self
            .client(&client_id)
            .await
            .map_err(|_| OidcError::ClientAuthentication("storage unavailable"))?
            .ok_or(fail.clone())?;
        // Mutual TLS (RFC 8705): the certificate of the connection authenticates, nothing in the body may.
        if matches!(
            client.auth_method,
            ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth
        ) {
            if !matches!(auth, ClientAuthentication::None { .. }) {
                return Err(OidcError::ClientAuthentication(
                    "authentication method differs from the registered one",
                ));
            }
            let der = peer.ok_or(OidcError::ClientAuthentication("no client certificate"))?;
            let cert = ClientCertificate::from_der(der).map_err(|_| fail.clone())?;
            let ok = match client.auth_method {
                ClientAuthMethod::TlsClientAuth => {
                    self.tls
                        .as_ref()
                        .is_some_and(|t| t.chains_to_client_ca(der))
                        && client
                            .tls_rule
                            .as_ref()
                            .is_some_and(|r| r.check(&cert).is_ok())
                }
                _ => client
                    .jwks
                    .as_ref()
                    .is_some_and(|k| check_self_signed(&cert, k).is_ok()),
            };
            return if ok { Ok(client) } else { Err(fail) };
        }
        match auth {
            ClientAuthentication::JwtAssertion { assertion, .. } => {
                let token_ep = self.endpoint("/token");
                let par_ep = self.endpoint("/par");
                let audiences = [token_ep.as_str(), self.cfg.issuer.as_str(), par_ep.as_str()];
                let mut seen: Option<(String, u64)> = None;
                let mut first_use = |jti: &str, exp: u64| {
                    seen = Some((jti.to_owned(), exp));
                    true
                };
                match client.auth_method {
                    ClientAuthMethod::PrivateKeyJwt => {
                        // Asymmetric only: the key type decides, and no JWK of the client's set can become an
                        // HMAC secret.
                        let keys = client.jwks.as_ref().ok_or(fail.clone())?;
                        verify_client_assertion(
                            assertion,
                            &client.id,
                            keys,
                            AlgorithmSet::from(ASSERTION_ALGS),
                            &audiences,
                            300,
                            &mut first_use,
                        )
                        .map_err(|_| fail.clone())?;
                    }
                    ClientAuthMethod::ClientSecretJwt => {
                        // OIDC Core §9: HMAC keyed by the octets of the client secret.
                        let secret = client
                            .secret_sealed
                            .as_deref()
                            .and_then(|s| self.sealer.open(&client.id, s))
                            .ok_or(fail.clone())?;
                        let key =
                            portcullis_jose::HmacKey::new(&secret).map_err(|_| fail.clone())?;
                        verify_client_assertion(
                            assertion,
                            &client.id,
                            &key,
                            AlgorithmSet::from(client.assertion_hmac_algs.as_slice()),
                            &audiences,
                            300,
                            &mut first_use,
                        )
                        .map_err(|_| fail.clone())?;
                    }
                    _ => {
                        return Err(OidcError::ClientAuthentication(
                            "authentication method differs from the registered one",
                        ));
                    }
                }
                let (jti, exp) = seen.ok_or(fail.clone())?;
                let fresh = self
                    .store
                    .record_jti(&client.id, &jti, exp as i64, now())
                    .await
                    .map_err(|_| OidcError::ClientAuthentication("storage unavailable"))?;
                if !fresh {
                    return Err(OidcError::ClientAuthentication("assertion replayed"));
                }
                Ok(client)
            }
            other => {
                client.check_secret_auth(other)?;
                Ok(client)
            }
        }
    }
}

/// Reads a back-channel form (revocation, introspection) and authenticates the client that sent it.
async fn authenticated_form(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<(Params, Arc<Client>)> {
    let bytes = web::read_body(body, p.cfg.max_request_bytes).await?;
    let form = web::form_body(headers, &bytes).map_err(oerr)?;
    let auth = web::header_str(headers, header::AUTHORIZATION).map_err(oerr)?;
    let client_auth = client_authentication(&form, auth).map_err(oerr)?;
    let client = p
        .authenticate(&client_auth, peer.as_deref().map(Vec::as_slice))
        .await
        .map_err(oerr)?;
    Ok((form, client))
}

async fn token(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    token_inner(&p, peer_der(peer), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

fn peer_der(peer: Option<axum::Extension<PeerCertificate>>) -> Option<Arc<Vec<u8>>> {
    peer.and_then(|axum::Extension(PeerCertificate(c))| c)
}

fn oerr(e: OidcError) -> Response {
    web::oidc_error(&e)
}

async fn token_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let bytes = web::read_body(body, p.cfg.max_request_bytes).await?;
    if !web::is_form(headers) {
        return Err(oerr(OidcError::InvalidParameter("content-type")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| oerr(OidcError::MalformedForm))?;
    let auth = web::header_str(headers, header::AUTHORIZATION).map_err(oerr)?;
    let req = TokenRequest::parse(text, auth).map_err(oerr)?;
    let client = p
        .authenticate(&req.client, peer.as_deref().map(Vec::as_slice))
        .await
        .map_err(oerr)?;
    let t = now();
    // Certificate-bound access tokens (RFC 8705 §3).
    let cnf = if client.bind_tokens {
        peer.as_deref().map(|d| certificate_thumbprint_s256(d))
    } else {
        None
    };
    match req.grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            client
                .perms
                .check_grant(portcullis_oidc::GrantType::AuthorizationCode)
                .map_err(oerr)?;
            // The tokens are made first and stored in the transaction that consumes the code (one round
            // trip to the database); they are handed out only if every check below passes, and revoked with
            // the grant if one fails.
            let opened = if CodeSealer::is_sealed(&code) {
                // Only this provider's database key opens it; a code that does not open was never issued.
                let Some(c) = p.codes.open(&code) else {
                    return Err(oerr(OidcError::InvalidGrant("unknown code")));
                };
                Some(c)
            } else {
                None
            };
            let tokens = NewTokens::for_client(
                p,
                &client,
                t,
                cnf.as_deref(),
                opened.as_ref().map(|c| c.grant_id.as_str()),
            );
            let consumed = if let Some(c) = opened {
                redeem_sealed(p, c, &tokens, t).await?
            } else {
                p.store
                    .consume_code_and_store(&TokenKey::of(&code), &tokens.stored)
                    .await
                    .map_err(db)?
            };
            let row = match consumed {
                Consumed::Fresh(r) => r,
                Consumed::Replayed(grant_id) => {
                    // A code used twice: revoke everything issued from it (RFC 6749 §4.1.2).
                    p.store.revoke_grant(&grant_id).await.map_err(db)?;
                    return Err(oerr(OidcError::InvalidGrant(
                        "code already used; tokens revoked",
                    )));
                }
                Consumed::Unknown => return Err(oerr(OidcError::InvalidGrant("unknown code"))),
            };
            let checked = check_code(
                &row,
                &client,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                t,
            );
            let grant = match checked {
                Ok(g) => g,
                Err(e) => {
                    if row.tokens_stored {
                        // Refused: the tokens stored with the consumption never become usable.
                        p.store.revoke_grant(&row.code.grant_id).await.map_err(db)?;
                    }
                    return Err(oerr(e));
                }
            };
            if !row.tokens_stored {
                // Not reached while the store keeps its promise (a live grant gets the tokens); stored
                // here rather than answered without them.
                tokens.store(p, &grant.id, &grant.scope).await?;
            }
            token_response(
                p,
                &client,
                &grant,
                &grant.scope.clone(),
                true,
                tokens,
                row.user,
            )
            .await
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => {
            client
                .perms
                .check_grant(portcullis_oidc::GrantType::RefreshToken)
                .map_err(oerr)?;
            let (grant, token_scope) = match p
                .store
                .consume_refresh(&TokenKey::of(&refresh_token), t)
                .await
                .map_err(db)?
            {
                Consumed::Fresh(x) => x,
                Consumed::Replayed(grant_id) => {
                    // Reuse of a rotated refresh token: revoke the whole family.
                    p.store.revoke_grant(&grant_id).await.map_err(db)?;
                    return Err(oerr(OidcError::InvalidGrant(
                        "refresh token reused; grant revoked",
                    )));
                }
                Consumed::Unknown => {
                    return Err(oerr(OidcError::InvalidGrant("unknown refresh token")));
                }
            };
            if grant.client_id != client.id {
                return Err(oerr(OidcError::InvalidGrant(
                    "refresh token was issued to another client",
                )));
            }
            if grant.revoked {
                return Err(oerr(OidcError::InvalidGrant("grant revoked")));
            }
            let original = Scope::parse(&token_scope).unwrap_or_default();
            let narrowed = original.narrow(scope.as_ref()).map_err(oerr)?;
            issue_tokens(
                p,
                &client,
                &grant,
                &narrowed.to_string(),
                false,
                cnf.as_deref(),
                None,
            )
            .await
        }
        Grant::ClientCredentials { scope } => {
            if !client.is_confidential() {
                return Err(oerr(OidcError::UnauthorizedClient(
                    "public clients cannot use client_credentials",
                )));
            }
            client
                .perms
                .check_grant(portcullis_oidc::GrantType::ClientCredentials)
                .map_err(oerr)?;
            let granted = client
                .perms
                .grant_scope(scope.as_ref(), &Scope::default())
                .map_err(oerr)?;
            if granted.contains("openid") || granted.contains("offline_access") {
                return Err(oerr(OidcError::InvalidScope));
            }
            let grant = GrantRow {
                id: time_ordered_id(),
                client_id: client.id.clone(),
                user_id: None,
                scope: granted.to_string(),
                claims: None,
                auth_time: None,
                nonce: None,
                sid: None,
                cnf: None,
                revoked: false,
            };
            let at = new_token();
            p.store
                .issue(
                    &grant,
                    None,
                    Some((
                        &TokenKey::of(&at).key,
                        &grant.scope,
                        t + p.cfg.access_token_lifetime as i64,
                        cnf.as_deref(),
                    )),
                    None,
                    t,
                )
                .await
                .map_err(db)?;
            let mut body = json!({"access_token": at, "token_type": "Bearer", "expires_in": p.cfg.access_token_lifetime});
            if !granted.is_empty() {
                body["scope"] = json!(grant.scope);
            }
            Ok(web::json_response(StatusCode::OK, &body, true))
        }
    }
}

/// Redeems an opened sealed code: its grant and `tokens` are stored unless the code was redeemed before. The
/// answer has the shape of a stored code's consumption, so both kinds go through the same checks.
async fn redeem_sealed(
    p: &Provider,
    c: CodeContents,
    tokens: &NewTokens,
    t: i64,
) -> HttpResult<Consumed<CodeGrant>> {
    let grant = GrantRow {
        id: c.grant_id,
        client_id: c.client_id,
        user_id: Some(c.user_id),
        scope: c.scope,
        claims: c.claims,
        auth_time: Some(c.auth_time),
        nonce: c.nonce,
        sid: Some(c.sid),
        cnf: None,
        revoked: false,
    };
    let redeemed = p
        .store
        .redeem_sealed_code(&grant, &tokens.stored, t)
        .await
        .map_err(db)?;
    Ok(match redeemed {
        Consumed::Fresh(user) => {
            let (code_challenge, code_challenge_method) = c.code_challenge.unzip();
            Consumed::Fresh(CodeGrant {
                code: CodeRow {
                    grant_id: grant.id.clone(),
                    client_id: grant.client_id.clone(),
                    redirect_uri: Some(c.redirect_uri),
                    code_challenge,
                    code_challenge_method,
                    expires_at: c.expires_at,
                },
                grant: Some(grant),
                user,
                tokens_stored: true,
            })
        }
        Consumed::Replayed(g) => Consumed::Replayed(g),
        Consumed::Unknown => Consumed::Unknown,
    })
}

/// A code's checks at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6): the client it was issued to, the
/// redirect URI, the PKCE verifier, expiry, and a live grant.
fn check_code(
    row: &CodeGrant,
    client: &Client,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    t: i64,
) -> Result<GrantRow, OidcError> {
    let challenge = match (
        &row.code.code_challenge,
        row.code.code_challenge_method.as_deref(),
    ) {
        (Some(c), m) => Some(
            CodeChallenge::parse(c, m, &pkce_policy())
                .map_err(|_| OidcError::InvalidGrant("stored challenge"))?,
        ),
        (None, _) => None,
    };
    let issued = IssuedCode {
        client_id: row.code.client_id.clone(),
        redirect_uri: row.code.redirect_uri.clone(),
        code_challenge: challenge,
        expires_at: row.code.expires_at.max(0) as u64,
    };
    issued.check_redemption(
        &client.id,
        redirect_uri,
        code_verifier,
        &pkce_policy(),
        t as u64,
    )?;
    if client.require_pkce && issued.code_challenge.is_none() {
        return Err(OidcError::InvalidGrant("PKCE required"));
    }
    row.grant
        .clone()
        .filter(|g| !g.revoked)
        .ok_or(OidcError::InvalidGrant("grant revoked"))
}

/// The access token and, for clients allowed the refresh grant, the refresh token of one token response:
/// the secrets handed out and what the store keeps of them.
struct NewTokens {
    access: String,
    refresh: Option<String>,
    stored: CodeTokens,
}

impl NewTokens {
    /// With `on_grant`, the access token names that grant and is kept on its row (a sealed code's first
    /// redemption, see [`Store::redeem_sealed_code`]); otherwise it gets a row of its own.
    fn for_client(
        p: &Provider,
        client: &Client,
        t: i64,
        cnf: Option<&str>,
        on_grant: Option<&str>,
    ) -> NewTokens {
        let access = on_grant.map_or_else(new_token, grant_access_token);
        let access_key = TokenKey::of(&access);
        let refresh = client
            .perms
            .grant_types
            .contains(&portcullis_oidc::GrantType::RefreshToken)
            .then(new_token);
        let stored = CodeTokens {
            access_key: match (on_grant, access_key.grant) {
                (Some(_), Some((_, hash))) => hash,
                _ => access_key.key,
            },
            access_expires_at: t + p.cfg.access_token_lifetime as i64,
            cnf: cnf.map(str::to_owned),
            refresh: refresh
                .as_deref()
                .map(|r| (TokenKey::of(r).key, t + p.cfg.refresh_token_lifetime as i64)),
            access_in_grant: on_grant.is_some(),
        };
        NewTokens {
            access,
            refresh,
            stored,
        }
    }

    /// Stores the tokens on `grant_id` with `scope`.
    async fn store(&self, p: &Provider, grant_id: &str, scope: &str) -> HttpResult<()> {
        let s = &self.stored;
        p.store
            .add_tokens(
                grant_id,
                Some((&s.access_key, scope, s.access_expires_at, s.cnf.as_deref())),
                s.refresh.as_ref().map(|(k, e)| (k.as_str(), scope, *e)),
            )
            .await
            .map_err(db)
    }
}

/// Issues an access token (and a rotated refresh token, and an ID token for `openid`) on a grant.
async fn issue_tokens(
    p: &Provider,
    client: &Client,
    grant: &GrantRow,
    scope: &str,
    from_code: bool,
    cnf: Option<&str>,
    known_user: Option<UserRow>,
) -> HttpResult<Response> {
    let tokens = NewTokens::for_client(p, client, now(), cnf, None);
    tokens.store(p, &grant.id, scope).await?;
    token_response(p, client, grant, scope, from_code, tokens, known_user).await
}

/// The token response for tokens already stored on `grant`, with an ID token for `openid`.
async fn token_response(
    p: &Provider,
    client: &Client,
    grant: &GrantRow,
    scope: &str,
    from_code: bool,
    tokens: NewTokens,
    known_user: Option<UserRow>,
) -> HttpResult<Response> {
    let NewTokens {
        access: at,
        refresh: rt,
        ..
    } = tokens;
    let mut body = json!({
        "access_token": at,
        "token_type": "Bearer",
        "expires_in": p.cfg.access_token_lifetime,
        "scope": scope,
    });
    if let Some(r) = rt {
        body["refresh_token"] = json!(r);
    }
    if Scope::parse(scope).unwrap_or_default().contains("openid")
        && let Some(user_id) = &grant.user_id
    {
        let user = match known_user.filter(|u| &u.id == user_id) {
            Some(u) => Some(u),
            None => p.store.user(user_id).await.map_err(db)?,
        };
        let Some(user) = user else {
            return Err(oerr(OidcError::InvalidGrant("the user no longer exists")));
        };
        // On refresh, the nonce is not repeated (OIDC Core §12.2).
        let mut g = grant.clone();
        if !from_code {
            g.nonce = None;
        }
        let idt = p
            .id_token(client, &user, &g, Some(&at), None, None, false)
            .map_err(|e| {
                tracing::error!("signing an ID token: {e}");
                web::unavailable()
            })?;
        body["id_token"] = json!(idt);
    }
    Ok(web::json_response(StatusCode::OK, &body, true))
}

fn bearer_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = web::json_response(
        status,
        &json!({"error": code, "error_description": description}),
        true,
    );
    let v = if code.is_empty() {
        "Bearer realm=\"portcullis\"".to_owned()
    } else {
        format!(
            "Bearer realm=\"portcullis\", error=\"{code}\", error_description=\"{description}\""
        )
    };
    if let Ok(h) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, h);
    }
    r
}

async fn userinfo(
    State(p): State<Arc<Provider>>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    userinfo_inner(&p, peer_der(peer), method, &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn userinfo_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    method: Method,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let invalid = |d: &str| bearer_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    let from_header = match web::header_str(headers, header::AUTHORIZATION)
        .map_err(|_| invalid("bad Authorization header"))?
    {
        Some(h) => match h.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Some(token.trim().to_owned())
            }
            _ => return Err(invalid("the Authorization header must be a Bearer token")),
        },
        None => None,
    };
    let from_body = if method == Method::POST {
        let bytes = web::read_body(body, p.cfg.max_request_bytes).await?;
        if bytes.is_empty() {
            None
        } else {
            let form = web::form_body(headers, &bytes).map_err(|e| invalid(&e.to_string()))?;
            form.get("access_token").map(str::to_owned)
        }
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => return Err(invalid("more than one access token")),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(bearer_error(StatusCode::UNAUTHORIZED, "", "")),
    };
    let t = now();
    let Some(at) = p
        .store
        .access_token(&TokenKey::of(&token), t)
        .await
        .map_err(db)?
    else {
        return Err(bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid or expired",
        ));
    };
    // A certificate-bound token is only good over a connection with that certificate (RFC 8705 §3).
    let cnf = at.cnf.as_ref().map(|c| json!({ "x5t#S256": c }));
    if !check_certificate_binding(cnf.as_ref(), peer.as_deref().map(Vec::as_slice), false) {
        return Err(bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is bound to another client certificate",
        ));
    }
    let scope = Scope::parse(&at.scope).unwrap_or_default();
    let Some(user_id) = at
        .grant
        .user_id
        .as_deref()
        .filter(|_| scope.contains("openid"))
    else {
        return Err(bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token has no openid scope",
        ));
    };
    let user = at.user.clone().filter(|u| u.id == user_id);
    let client = p.client(&at.grant.client_id).await?;
    let (Some(user), Some(client)) = (user, client) else {
        return Err(bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the grant is gone",
        ));
    };
    let all = p.user_claims(&user);
    let claims_req = at
        .grant
        .claims
        .as_deref()
        .and_then(|c| ClaimsRequest::parse(c).ok());
    let info = p.scope_claims.userinfo(
        &p.subject(&client, &user.id),
        &all,
        &scope,
        claims_req.as_ref(),
    );
    Ok(web::json_response(
        StatusCode::OK,
        &serde_json::to_value(&info).unwrap_or_default(),
        true,
    ))
}

async fn revoke(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    revoke_inner(&p, peer_der(peer), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn revoke_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let (form, client) = authenticated_form(p, peer, headers, body).await?;
    let token = form.require("token").map_err(oerr)?;
    let h = TokenKey::of(token);
    let t = now();
    // RFC 7009 §2.2: unknown tokens and tokens of other clients get 200 too (nothing to reveal).
    if let Some(at) = p.store.access_token(&h, t).await.map_err(db)?
        && at.grant.client_id == client.id
    {
        p.store.delete_access_token(&h).await.map_err(db)?;
    } else if let Some((g, _, _)) = p.store.refresh_token_grant(&h, t).await.map_err(db)?
        && g.client_id == client.id
    {
        p.store.revoke_grant(&g.id).await.map_err(db)?;
    }
    Ok(web::json_response(StatusCode::OK, &json!({}), true))
}

async fn introspect(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    introspect_inner(&p, peer_der(peer), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn introspect_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let (form, client) = authenticated_form(p, peer, headers, body).await?;
    if !client.is_confidential() {
        return Err(oerr(OidcError::ClientAuthentication(
            "introspection needs an authenticated client",
        )));
    }
    let token = form.require("token").map_err(oerr)?;
    let h = TokenKey::of(token);
    let t = now();
    let describe = |g: &GrantRow, scope: &str, exp: i64, kind: &str, sub: Option<String>| {
        let mut v = json!({"active": true, "scope": scope, "client_id": g.client_id, "exp": exp,
                           "iss": p.cfg.issuer, "token_type": kind});
        if let Some(s) = sub {
            v["sub"] = json!(s);
        }
        v
    };
    // Only the client the token was issued to learns about it.
    let body = if let Some(at) = p.store.access_token(&h, t).await.map_err(db)?
        && at.grant.client_id == client.id
    {
        let sub = at.grant.user_id.as_deref().map(|u| p.subject(&client, u));
        let mut v = describe(&at.grant, &at.scope, at.expires_at, "Bearer", sub);
        if let Some(c) = &at.cnf {
            v["cnf"] = json!({ "x5t#S256": c });
        }
        v
    } else if let Some((g, scope, exp)) = p.store.refresh_token_grant(&h, t).await.map_err(db)?
        && g.client_id == client.id
    {
        let sub = g.user_id.as_deref().map(|u| p.subject(&client, u));
        describe(&g, &scope, exp, "refresh_token", sub)
    } else {
        json!({"active": false})
    };
    Ok(web::json_response(StatusCode::OK, &body, true))
}

async fn par(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    par_inner(&p, peer_der(peer), &headers, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn par_inner(
    p: &Provider,
    peer: Option<Arc<Vec<u8>>>,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let bytes = web::read_body(body, p.cfg.max_request_bytes).await?;
    if !web::is_form(headers) {
        return Err(oerr(OidcError::InvalidParameter("content-type")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| oerr(OidcError::MalformedForm))?;
    let auth = web::header_str(headers, header::AUTHORIZATION).map_err(oerr)?;
    // RFC 9126 §3: the pushed parameters may themselves be a signed request object (RFC 9101); it then carries
    // the whole request and is verified with the authenticated client's keys.
    let outer = Params::parse(text).map_err(oerr)?;
    let (pushed, client) = match outer.get("request") {
        None => {
            let pushed =
                PushedAuthorizationRequest::parse(text, auth, &pkce_policy()).map_err(oerr)?;
            let client = p
                .authenticate(&pushed.client, peer.as_deref().map(Vec::as_slice))
                .await
                .map_err(oerr)?;
            (pushed, client)
        }
        Some(obj) => {
            if outer.get("request_uri").is_some() {
                return Err(oerr(OidcError::InvalidParameter("request_uri")));
            }
            let client_auth = client_authentication(&outer, auth).map_err(oerr)?;
            let client = p
                .authenticate(&client_auth, peer.as_deref().map(Vec::as_slice))
                .await
                .map_err(oerr)?;
            let keys = client.jwks.as_ref().ok_or_else(|| {
                oerr(OidcError::RequestObject(
                    "the client has no registered keys",
                ))
            })?;
            let request = verify_request_object(
                obj,
                &client.id,
                &p.cfg.issuer,
                keys,
                &RequestObjectPolicy::new(AlgorithmSet::from(SIGNING_ALGS)),
                &pkce_policy(),
            )
            .map_err(oerr)?;
            let pushed = PushedAuthorizationRequest {
                request,
                client: client_auth,
            };
            (pushed, client)
        }
    };
    if pushed.request.client_id != client.id {
        return Err(oerr(OidcError::ClientAuthentication(
            "client_id differs from the authenticated client",
        )));
    }
    let redirect_ok = pushed
        .request
        .redirect_uri
        .as_deref()
        .is_some_and(|r| RedirectUriRule::Exact.matches(&client.meta.redirect_uris, r));
    if !redirect_ok {
        return Err(oerr(OidcError::InvalidParameter("redirect_uri")));
    }
    let v = Validated {
        redirect_uri: pushed.request.redirect_uri.clone().unwrap_or_default(),
        mode: pushed.request.effective_response_mode(),
        client,
        req: pushed.request,
        from_par: true,
    };
    p.check_request(&v).map_err(oerr)?;
    let id = random_token();
    let row = PendingRow {
        id: id.clone(),
        kind: "par".into(),
        client_id: v.client.id.clone(),
        params: v.req.to_params().to_form(),
        csrf: String::new(),
        expires_at: now() + PAR_LIFETIME,
    };
    p.store.put_pending(&row).await.map_err(db)?;
    Ok(web::json_response(
        StatusCode::CREATED,
        &json!({"request_uri": format!("{}{id}", portcullis_oidc::PAR_REQUEST_URI_PREFIX), "expires_in": PAR_LIFETIME}),
        true,
    ))
}

async fn end_session(
    State(p): State<Arc<Provider>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    end_session_inner(&p, method, &headers, query, body)
        .await
        .unwrap_or_else(|r| r)
}

async fn end_session_inner(
    p: &Provider,
    method: Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> HttpResult<Response> {
    let bad = |d: &str| web::error_page(StatusCode::BAD_REQUEST, "invalid_request", d);
    let params = if method == Method::POST {
        read_form(p, headers, body).await?
    } else {
        Params::parse(query.as_deref().unwrap_or("")).map_err(|e| bad(&e.to_string()))?
    };
    // Which client? From id_token_hint's aud, or client_id; they must agree.
    let mut client_id = params.get("client_id").map(str::to_owned);
    if let Some(hint) = params.get("id_token_hint") {
        let aud = portcullis_jose::jws::decode_unverified(hint)
            .ok()
            .and_then(|u| serde_json::from_slice::<Map<String, Value>>(&u.payload).ok())
            .and_then(|m| m.get("aud").and_then(|a| a.as_str().map(str::to_owned)));
        let Some(aud) = aud else {
            return Err(bad("id_token_hint is not an ID token from this provider"));
        };
        if client_id.as_deref().is_some_and(|c| c != aud) {
            return Err(bad("client_id differs from the id_token_hint audience"));
        }
        let client = p.client(&aud).await?.ok_or_else(|| bad("unknown client"))?;
        if p.hint_subject(hint, &client).is_none() {
            return Err(bad("id_token_hint is not an ID token from this provider"));
        }
        client_id = Some(aud);
    }
    if let Some((h, _)) = p.current_session(headers).await? {
        p.store.delete_session(&h).await.map_err(db)?;
    }
    let clear = web::session_cookie("", 0, p.secure_cookies());
    let mut resp = match (params.get("post_logout_redirect_uri"), client_id) {
        (Some(uri), Some(cid)) => {
            let client = p.client(&cid).await?.ok_or_else(|| bad("unknown client"))?;
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(bad("post_logout_redirect_uri is not registered"));
            }
            let mut pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::new();
            if let Some(s) = params.get("state") {
                pairs.push(("state", s.into()));
            }
            match redirect_with(uri, ResponseMode::Query, &Params::from_pairs(pairs)) {
                Ok(u) => web::redirect(&u),
                Err(_) => return Err(bad("bad post_logout_redirect_uri")),
            }
        }
        (Some(_), None) => {
            return Err(bad(
                "post_logout_redirect_uri needs id_token_hint or client_id",
            ));
        }
        _ => web::html(StatusCode::OK, pages::logged_out(), PAGE_CSP),
    };
    if let Ok(h) = HeaderValue::from_str(&clear) {
        resp.headers_mut().append(header::SET_COOKIE, h);
    }
    Ok(resp)
}

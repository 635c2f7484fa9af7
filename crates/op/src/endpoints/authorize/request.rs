//! The first checks of an authorization request, up to the point where the client and its redirect URI are
//! trusted: the client, a pushed request (`request_uri`, RFC 9126), the redirect URI, the response mode errors
//! go back in, and the request itself (query parameters or a signed request object, RFC 9101).
//!
//! Every failure before the redirect URI is trusted is an error page, never a redirect.
//! Must not: look at the user, the session or consent.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use portcullis_jose::AlgorithmSet;
use portcullis_oidc::{
    AuthorizationRequest, ErrorCode, OidcError, Params, Prompt, RequestObjectPolicy, ResponseMode,
    ResponseType, verify_request_object_once,
};

use super::checks::Refusal;
use crate::authn::policy;
use crate::clients::Client;
use crate::http::{HttpResult, db, error_page};
use crate::keys::SIGNING_ALGS;
use crate::now;
use crate::provider::{Provider, pkce_policy};

/// An authorization request whose client and redirect URI are established: errors from here on go back to
/// the client.
pub(crate) struct Validated {
    pub(crate) client: Arc<Client>,
    pub(crate) req: AuthorizationRequest,
    pub(crate) redirect_uri: String,
    pub(crate) mode: ResponseMode,
    /// Where the request came from.
    pub(crate) source: Source,
    /// Whether it arrived as a verified request object (RFC 9101) signed by the client.
    pub(crate) signed: bool,
    /// Whether that request object carried a `jti`, so that it could be used only once.
    pub(crate) single_use: bool,
    /// For a relying party's second-factor request ([`policy::is_second_factor`]): the user its `login_hint`
    /// names (the relying party's identifier, through its accounts); `Some(None)` when it names nobody, so
    /// that nobody can answer it.
    pub(crate) second_factor: Option<Option<String>>,
}

/// Where an authorization request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The query or form of `/authorize` (possibly a request object).
    Direct,
    /// Being pushed, at `/par`.
    Pushing,
    /// A pushed request (RFC 9126), by the id of its row: it stays usable until an authorization made from it
    /// completes, which consumes it.
    Pushed(String),
}

/// Where to send an authorization error once the redirect URI is trusted.
pub(crate) struct ErrorTarget {
    pub(crate) client: Arc<Client>,
    pub(crate) redirect_uri: String,
    pub(crate) mode: ResponseMode,
    pub(crate) state: Option<String>,
}

impl Validated {
    /// The established request, its `claims` request limited to what the client may be given.
    pub(crate) fn new(
        p: &Provider,
        client: Arc<Client>,
        mut req: AuthorizationRequest,
        redirect_uri: String,
        source: Source,
    ) -> Validated {
        limit_claims_to_client(p, &client, &mut req);
        Validated {
            mode: req.effective_response_mode(),
            client,
            req,
            redirect_uri,
            source,
            signed: false,
            single_use: false,
            second_factor: None,
        }
    }

    /// Whether the request came through PAR.
    pub(crate) fn came_through_par(&self) -> bool {
        self.source != Source::Direct
    }

    /// Consumes the pushed request this one came from, when it did: false when another authorization made
    /// from it completed first (a `request_uri` is single use per completed authorization).
    pub(crate) async fn complete_pushed(&self, p: &Provider) -> HttpResult<bool> {
        match &self.source {
            Source::Pushed(id) => p.store.take_pending(id).await.map_err(db),
            _ => Ok(true),
        }
    }

    /// The request as it is kept while it waits (for the user, or after PAR): only the parameters the provider
    /// uses; unknown ones (which the provider ignores) are dropped, so an anonymous request cannot make the
    /// provider store what it likes.
    /// A request that came through PAR is kept as its `request_uri`, so that completing it consumes the pushed
    /// request.
    pub(crate) fn stored_form(&self) -> String {
        if let Source::Pushed(id) = &self.source {
            let uri = format!("{}{id}", portcullis_oidc::PAR_REQUEST_URI_PREFIX);
            return Params::from_pairs(vec![
                ("client_id", self.client.id.as_str().into()),
                ("request_uri", uri.into()),
            ])
            .to_form();
        }
        if self.req.extra.is_empty() {
            return self.req.to_params().to_form();
        }
        let mut req = self.req.clone();
        req.extra.clear();
        req.to_params().to_form()
    }

    /// Where this request's errors go.
    pub(crate) fn error_target(&self) -> ErrorTarget {
        ErrorTarget {
            client: self.client.clone(),
            redirect_uri: self.redirect_uri.clone(),
            mode: self.mode,
            state: self.req.state.clone(),
        }
    }
}

fn page(code: &str, description: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, code, description)
}

/// Establishes the client and the redirect URI, then parses the request. `Err` is an error page; `Ok(Err)` an
/// error to send to the (now trusted) redirect URI.
pub(crate) async fn establish(
    p: &Provider,
    raw: &Params,
) -> HttpResult<Result<Validated, (ErrorTarget, OidcError)>> {
    let client = check_client(p, raw).await?;
    let (params, source, pushed_signed) = resolve_request_uri(p, &client, raw).await?;
    let redirect_uri = check_redirect_uri(&client, &params)?;
    // The redirect URI is trusted from here on.
    let target = ErrorTarget {
        client: client.clone(),
        redirect_uri: redirect_uri.clone(),
        mode: error_response_mode(&params),
        state: params.get("state").map(str::to_owned),
    };
    let signed = params.get("request").is_some() || pushed_signed;
    let req = match parse_request(p, &client, &params, source != Source::Direct).await? {
        Ok(r) => r,
        // A registration request (prompt=create) that does not verify gets an error page, never a redirect.
        Err(e) if asks_to_create(&params) => {
            return Err(page("invalid_request_object", &e.to_string()));
        }
        Err(e) => return Ok(Err((target, e))),
    };
    check_request_object_redirect_uri(&req, &redirect_uri)?;
    let mut v = Validated::new(p, client, req, redirect_uri, source);
    v.signed = signed;
    // A verified request object with a `jti` was accepted once (`verify_request_object_of`).
    v.single_use = pushed_signed
        || params
            .get("request")
            .and_then(|r| portcullis_jose::jws::decode_unverified(r).ok())
            .and_then(|u| serde_json::from_slice::<serde_json::Value>(&u.payload).ok())
            .is_some_and(|c| c["jti"].is_string());
    if policy::is_second_factor(&v.req) {
        let named = match v.req.login_hint.as_deref().filter(|h| !h.is_empty()) {
            Some(hint) => p.store.rp_account(&v.client.id, hint).await.map_err(db)?,
            None => None,
        };
        v.second_factor = Some(named);
    }
    Ok(Ok(v))
}

/// OpenID Connect Prompt Create: only the relying party's backend starts a registration, signs it and gives it a
/// `jti` (single use). Checked
/// when a request arrives (a stored request was checked when it arrived): an unsigned one is an error page.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
pub(crate) fn check_create_is_signed(v: &Validated) -> HttpResult<()> {
    if v.req.prompt.contains(&Prompt::Create) && !v.signed {
        return Err(page(
            "invalid_request",
            "a registration request (prompt=create) must be a signed request object",
        ));
    }
    // And usable once: a leaked registration URL must not let someone else register the account first.
    if v.req.prompt.contains(&Prompt::Create) && !v.single_use {
        return Err(page(
            "invalid_request",
            "a registration request (prompt=create) must carry a jti, so that it is used once",
        ));
    }
    Ok(())
}

/// Consumes the pushed request `v` came from, if any, so that no other browser can use its `request_uri`;
/// `v` is then kept as a direct request. An error page when another browser consumed it first.
pub(crate) async fn take_pushed_once(p: &Provider, v: &mut Validated) -> HttpResult<()> {
    if let Source::Pushed(id) = &v.source {
        if !p.store.take_pending(id).await.map_err(db)? {
            return Err(page(
                "invalid_request_uri",
                "this request_uri was already used",
            ));
        }
        v.source = Source::Direct;
    }
    Ok(())
}

/// A second-factor request ([`policy::is_second_factor`]) declares that the relying party checked a first
/// factor itself, which makes the ID token say `mfa`: only the client's backend may declare that, in a signed
/// request object used once, naming the user in `login_hint`. Checked when a request arrives, like
/// [`check_create_is_signed`].
pub(crate) fn check_second_factor(p: &Provider, v: &Validated) -> Result<(), Refusal> {
    if v.second_factor.is_none() {
        return Ok(());
    }
    let refuse = |d: &str| {
        Err(Refusal {
            code: ErrorCode::InvalidRequest,
            description: d.into(),
        })
    };
    if !v.signed || !v.single_use {
        return refuse("a second-factor request must be a signed request object with a jti");
    }
    if v.req.login_hint.as_deref().is_none_or(str::is_empty) {
        return refuse("a second-factor request names its user in login_hint");
    }
    if v.req.prompt.contains(&Prompt::Create) {
        return refuse("a second-factor request cannot create an account");
    }
    if !p.methods.can_produce(crate::authn::SECOND_FACTOR_ACR) {
        return refuse("this provider offers no second factor");
    }
    Ok(())
}

/// Whether the request asks for `prompt=create`, in its parameters or in its request object (read without
/// verification, only to choose how a refusal is shown).
fn asks_to_create(params: &Params) -> bool {
    let create = |v: &str| v.split(' ').any(|p| p == "create");
    if params.get("prompt").is_some_and(create) {
        return true;
    }
    params
        .get("request")
        .and_then(|r| portcullis_jose::jws::decode_unverified(r).ok())
        .and_then(|u| serde_json::from_slice::<serde_json::Value>(&u.payload).ok())
        .is_some_and(|c| c["prompt"].as_str().is_some_and(create))
}

/// A `claims` request may only name user claims that the scopes allowed to the client release: the rest are
/// dropped before the request is stored, shown for consent or answered (a client allowed only `openid` gets no
/// `email` by asking for it by name). Claims the provider sets itself (`sub`, `acr`, ...) stay.
fn limit_claims_to_client(p: &Provider, client: &Client, req: &mut AuthorizationRequest) {
    if let Some(claims) = req.claims.as_mut() {
        let allowed = p.scope_claims.claims_for(&client.perms.scopes);
        claims.retain_user_claims(|name| allowed.contains(name));
    }
}

/// The client named by `client_id` must exist.
async fn check_client(p: &Provider, raw: &Params) -> HttpResult<Arc<Client>> {
    let Some(client_id) = raw.get("client_id") else {
        return Err(page("invalid_request", "client_id is missing"));
    };
    p.client(client_id)
        .await?
        .ok_or_else(|| page("invalid_client", "unknown client_id"))
}

/// A pushed request (RFC 9126) replaces the query entirely; it must be this client's, unexpired and not yet
/// consumed by a completed authorization. It can be visited again (a reloaded login page): its first visit
/// keeps it for as long as a login page lives ([`super::PENDING_LIFETIME`]); later visits do not extend it.
/// The request's parameters, where they came from, and whether they were pushed as a signed request object
/// with a `jti` (pending kind [`PAR_SIGNED`]: its signature and single use were checked at `/par`).
async fn resolve_request_uri(
    p: &Provider,
    client: &Client,
    raw: &Params,
) -> HttpResult<(Params, Source, bool)> {
    let Some(uri) = raw.get("request_uri") else {
        return Ok((raw.clone(), Source::Direct, false));
    };
    if !portcullis_oidc::is_par_request_uri(uri) {
        return Err(page(
            "invalid_request_uri",
            "request_uri must come from the PAR endpoint",
        ));
    }
    let id = &uri[portcullis_oidc::PAR_REQUEST_URI_PREFIX.len()..];
    let mut row = p.store.pending(id, "par", now()).await.map_err(db)?;
    if row.is_none() {
        row = p.store.pending(id, PAR_SIGNED, now()).await.map_err(db)?;
    }
    let Some(row) = row else {
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
    let t = now();
    p.store
        .extend_pending_once(id, t, t + super::PENDING_LIFETIME)
        .await
        .map_err(db)?;
    let params =
        Params::parse(&row.params).map_err(|_| page("invalid_request", "stored request"))?;
    Ok((
        params,
        Source::Pushed(id.to_owned()),
        row.kind == PAR_SIGNED,
    ))
}

/// The pending kind of a pushed request that arrived as a signed request object with a `jti`.
pub(crate) const PAR_SIGNED: &str = "par-signed";

/// The redirect URI must be present and registered, compared exactly (OIDC Core §3.1.2.1).
#[allow(clippy::result_large_err)] // the error is the response, built once per request
fn check_redirect_uri(client: &Client, params: &Params) -> HttpResult<String> {
    match params.get("redirect_uri") {
        Some(r) if client.redirect_rule.matches(&client.meta.redirect_uris, r) => Ok(r.to_owned()),
        Some(_) => Err(page(
            "invalid_request",
            "redirect_uri is not registered for this client",
        )),
        None => Err(page("invalid_request", "redirect_uri is missing")),
    }
}

/// The response mode an error goes back in, worked out from the raw parameters (the request may not parse).
fn error_response_mode(params: &Params) -> ResponseMode {
    let rt = params
        .get("response_type")
        .and_then(|r| ResponseType::parse(r).ok());
    params
        .get("response_mode")
        .and_then(|m| ResponseMode::parse(m).ok())
        .map(|m| match rt {
            Some(rt) => m.resolve(rt),
            None => m.resolve(ResponseType::CODE),
        })
        .unwrap_or_else(|| rt.map(|r| r.default_mode()).unwrap_or(ResponseMode::Query))
}

/// The request: from a signed request object (RFC 9101), which then carries all of it, or the parameters.
/// `Err` is a storage failure (an error page); `Ok(Err)` a refusal for the client.
async fn parse_request(
    p: &Provider,
    client: &Client,
    params: &Params,
    from_par: bool,
) -> HttpResult<Result<AuthorizationRequest, OidcError>> {
    match params.get("request") {
        Some(_) if from_par => Ok(Err(OidcError::InvalidParameter("request"))),
        Some(obj) => verify_request_object_of(p, client, obj).await,
        None => Ok(AuthorizationRequest::from_params(params, &pkce_policy())),
    }
}

/// Verifies a client's request object (RFC 9101) with its registered keys, and accepts its `jti`, when it has
/// one, once: the `jti` is remembered until no clock skew could make the object valid again. Shared with
/// `/par`. `Err` is a storage failure; `Ok(Err)` a refusal.
pub(crate) async fn verify_request_object_of(
    p: &Provider,
    client: &Client,
    obj: &str,
) -> HttpResult<Result<AuthorizationRequest, OidcError>> {
    let Some(keys) = &client.jwks else {
        return Ok(Err(OidcError::RequestObject(
            "the client has no registered keys",
        )));
    };
    let verified = match verify_request_object_once(
        obj,
        &client.id,
        &p.cfg.issuer,
        keys,
        &RequestObjectPolicy::new(AlgorithmSet::from(SIGNING_ALGS)),
        &pkce_policy(),
    ) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(jti) = &verified.jti {
        let until = verified.valid_until.unwrap_or(0);
        // The request objects' jtis live beside client assertions' under their own prefix.
        let key = format!("request-object:{jti}");
        let fresh = p
            .store
            .record_jti(
                &client.id,
                &key,
                i64::try_from(until).unwrap_or(i64::MAX),
                now(),
            )
            .await
            .map_err(db)?;
        if !fresh {
            return Ok(Err(OidcError::RequestObject("jti already used")));
        }
    }
    Ok(Ok(verified.request))
}

/// The request object's redirect_uri must also be registered (it replaced the query's).
#[allow(clippy::result_large_err)] // the error is the response, built once per request
fn check_request_object_redirect_uri(
    req: &AuthorizationRequest,
    redirect_uri: &str,
) -> HttpResult<()> {
    if req.redirect_uri.as_deref() != Some(redirect_uri) {
        return Err(page(
            "invalid_request",
            "redirect_uri differs inside the request object",
        ));
    }
    Ok(())
}

//! Request objects (JAR, RFC 9101) and pushed authorization requests (PAR, RFC 9126).
//!
//! Must not: accept an unsigned request object unless the policy allows it, or one whose `iss` or `client_id` names
//! another client; nor keep client credentials with a pushed request.

use portcullis_jose::jws::typ_matches;
use portcullis_jose::{AlgorithmSet, Validation, VerificationKeys, base64url, jwt};
use portcullis_pkce::Policy;
use serde_json::{Map, Value};

use crate::token::client_authentication;
use crate::{AuthorizationRequest, ClientAuthentication, OidcError, Params};

/// The `request_uri` prefix of pushed authorization requests (RFC 9126 §2.2).
pub const PAR_REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// What a provider accepts in request objects.
#[derive(Debug, Clone)]
pub struct RequestObjectPolicy {
    /// Allowed signing algorithms.
    pub algorithms: AlgorithmSet,
    /// Accept `alg: none` request objects. Off by default; unsigned objects add nothing over query parameters.
    pub allow_unsigned: bool,
    /// Longest accepted lifetime (`exp - now`), in seconds (default 3600, as FAPI 2.0 allows).
    pub max_lifetime: u64,
}

impl RequestObjectPolicy {
    /// Signed request objects with these algorithms only.
    pub fn new(algorithms: impl Into<AlgorithmSet>) -> Self {
        RequestObjectPolicy {
            algorithms: algorithms.into(),
            allow_unsigned: false,
            max_lifetime: 3600,
        }
    }
}

fn claims_to_params(client_id: &str, claims: &Map<String, Value>) -> Result<Params, OidcError> {
    let mut pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::new();
    for (k, v) in claims {
        // JWT-only claims are not authorization request parameters.
        if matches!(
            k.as_str(),
            "iss" | "aud" | "exp" | "iat" | "nbf" | "jti" | "request" | "request_uri"
        ) {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            // `claims` is an object; keep its JSON text.
            Value::Object(_) => v.to_string(),
            _ => return Err(OidcError::RequestObject("a parameter has the wrong type")),
        };
        pairs.push((k.as_str(), text.into()));
    }
    pairs.push(("client_id", client_id.into()));
    Ok(Params::from_pairs(pairs))
}

/// Verifies a request object for `client_id` (signed with the client's `keys`, `aud` = the provider's `issuer`)
/// and returns the authorization request it carries.
///
/// RFC 9101 §6.3: only the request object's parameters are used, never the query's; its `client_id`, if any,
/// must equal the outer one (§5), and `iss`, if any, must be the client.
pub fn verify_request_object(
    request: &str,
    client_id: &str,
    issuer: &str,
    keys: &(impl VerificationKeys + ?Sized),
    policy: &RequestObjectPolicy,
    pkce: &Policy,
) -> Result<AuthorizationRequest, OidcError> {
    verify_request_object_once(request, client_id, issuer, keys, policy, pkce).map(|v| v.request)
}

/// The `typ` values a request object may carry (RFC 9101 §10.8): its own media type, or the generic `JWT` that
/// many libraries set. Any other type names another kind of JWT (an access token, a logout token, a client
/// assertion) and is refused, so such a token cannot be replayed as a request object.
pub const REQUEST_OBJECT_TYPES: [&str; 2] = ["oauth-authz-req+jwt", "JWT"];

/// A verified request object: the request it carries, and what a provider needs to refuse it a second time.
#[derive(Debug, Clone)]
pub struct VerifiedRequestObject {
    /// The authorization request.
    pub request: AuthorizationRequest,
    /// Its `jti`, when it has one: a provider accepts each only once per client (RFC 9101 §10.8 and FAPI).
    pub jti: Option<String>,
    /// The last second at which the object could still be accepted (`exp` plus the verification leeway): a
    /// provider keeps the `jti` until then. `None` for unsigned objects.
    pub valid_until: Option<u64>,
}

/// Leeway for a request object's `exp`, `nbf` and `iat`, in seconds.
pub const REQUEST_OBJECT_LEEWAY: u64 = 60;

/// [`verify_request_object`], returning also the object's `jti` and how long it must be remembered, so that the
/// caller can accept each `jti` once. A `typ` header, when present, must be one of [`REQUEST_OBJECT_TYPES`].
pub fn verify_request_object_once(
    request: &str,
    client_id: &str,
    issuer: &str,
    keys: &(impl VerificationKeys + ?Sized),
    policy: &RequestObjectPolicy,
    pkce: &Policy,
) -> Result<VerifiedRequestObject, OidcError> {
    let mut valid_until = None;
    let claims = match unsigned_claims(request) {
        Some(claims) if policy.allow_unsigned => claims,
        Some(_) => {
            return Err(OidcError::RequestObject(
                "unsigned request objects are not accepted",
            ));
        }
        None => {
            let v = Validation::new(policy.algorithms)
                .any_issuer()
                .audience(issuer)
                .leeway(REQUEST_OBJECT_LEEWAY);
            let t: jwt::Jwt<Map<String, Value>> = jwt::decode(request, keys, &v)
                .map_err(|_| OidcError::RequestObject("signature or claims invalid"))?;
            if let Some(typ) = &t.header.typ
                && !REQUEST_OBJECT_TYPES.iter().any(|ok| typ_matches(ok, typ))
            {
                return Err(OidcError::RequestObject("typ names another kind of token"));
            }
            let exp = t.claims.registered.exp.map(|e| e.as_secs()).unwrap_or(0);
            valid_until = Some(exp.saturating_add(REQUEST_OBJECT_LEEWAY));
            if exp
                > jwt::NumericDate::now()
                    .as_secs()
                    .saturating_add(policy.max_lifetime)
            {
                return Err(OidcError::RequestObject("lifetime too long"));
            }
            t.claims.custom
        }
    };
    if claims
        .get("iss")
        .is_some_and(|i| i.as_str() != Some(client_id))
    {
        return Err(OidcError::RequestObject("iss is not the client"));
    }
    if claims
        .get("client_id")
        .is_some_and(|c| c.as_str() != Some(client_id))
    {
        return Err(OidcError::RequestObject(
            "client_id disagrees with the request",
        ));
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(OidcError::RequestObject("nested request objects"));
    }
    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI_LEN => Some(j.clone()),
        Some(_) => return Err(OidcError::RequestObject("jti is not a short string")),
    };
    Ok(VerifiedRequestObject {
        request: AuthorizationRequest::from_params(&claims_to_params(client_id, &claims)?, pkce)?,
        jti,
        valid_until,
    })
}

/// The longest `jti` accepted in a request object.
pub const MAX_JTI_LEN: usize = 256;

/// The claims of an `alg: none` request object (exactly `{"alg":"none"}` and an empty signature), or `None`
/// when the object is not of that form.
fn unsigned_claims(request: &str) -> Option<Map<String, Value>> {
    let mut parts = request.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !s.is_empty() {
        return None;
    }
    let header = portcullis_jose::parse_strict_object(&base64url::decode(h).ok()?).ok()?;
    if header.len() != 1 || header.get("alg").and_then(Value::as_str) != Some("none") {
        return None;
    }
    portcullis_jose::parse_strict_object(&base64url::decode(p).ok()?).ok()
}

/// A pushed authorization request (RFC 9126 §2.1): the authorization request parameters plus client
/// authentication, posted to the PAR endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedAuthorizationRequest {
    /// The parameters (the same rules as at the authorization endpoint).
    pub request: AuthorizationRequest,
    /// How the client authenticated.
    pub client: ClientAuthentication,
}

impl PushedAuthorizationRequest {
    /// Parses the PAR body and `Authorization` header. `request_uri` is forbidden here (RFC 9126 §2.1); a
    /// `client_id` in the body must agree with the authentication.
    pub fn parse(
        body: &str,
        authorization: Option<&str>,
        pkce: &Policy,
    ) -> Result<Self, OidcError> {
        let p = Params::parse(body)?;
        if p.get("request_uri").is_some() {
            return Err(OidcError::InvalidParameter("request_uri"));
        }
        let client = client_authentication(&p, authorization)?;
        let mut request = AuthorizationRequest::from_params(&p, pkce)?;
        // Client credentials are not authorization parameters: never keep a secret or an assertion with the
        // stored request.
        for k in ["client_secret", "client_assertion", "client_assertion_type"] {
            request.extra.remove(k);
        }
        if client.client_id().is_some_and(|c| c != request.client_id) {
            return Err(OidcError::ClientAuthentication(
                "client_id differs from the authenticated client",
            ));
        }
        Ok(PushedAuthorizationRequest { request, client })
    }
}

/// A fresh PAR `request_uri` from at least 16 random bytes.
pub fn new_par_request_uri(random: &[u8]) -> Result<String, OidcError> {
    if random.len() < 16 {
        return Err(OidcError::InvalidParameter("request_uri"));
    }
    Ok(format!(
        "{PAR_REQUEST_URI_PREFIX}{}",
        base64url::encode(random)
    ))
}

/// Whether `uri` has the PAR form this crate issues.
pub fn is_par_request_uri(uri: &str) -> bool {
    uri.strip_prefix(PAR_REQUEST_URI_PREFIX).is_some_and(|r| {
        r.len() >= 22
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The PAR endpoint's success response (RFC 9126 §2.2), status 201.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PushedAuthorizationResponse {
    /// `request_uri`
    pub request_uri: String,
    /// `expires_in`
    pub expires_in: u64,
}

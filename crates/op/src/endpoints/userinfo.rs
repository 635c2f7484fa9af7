//! `/userinfo` (OIDC Core §5.3): the claims an access token's grant releases, for a bearer token sent in the
//! `Authorization` header or the form body (RFC 6750 §2, never both), honouring certificate binding (RFC 8705).
//!
//! Must not: answer without the `openid` scope or for a token bound to another certificate.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::{ClaimsRequest, Scope, check_certificate_binding};
use serde_json::json;

use crate::http::{self, HttpResult, bearer_error, db};
use crate::now;
use crate::provider::Provider;
use crate::store::TokenKey;
use crate::tls::PeerCertificate;

/// The UserInfo endpoint, GET or POST.
pub async fn userinfo(
    State(p): State<Arc<Provider>>,
    method: Method,
    headers: HeaderMap,
    peer: Option<axum::Extension<PeerCertificate>>,
    body: Body,
) -> Response {
    userinfo_inner(&p, super::peer_der(peer), method, &headers, body)
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
    let from_header = match http::header_str(headers, header::AUTHORIZATION)
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
        let bytes = http::read_body(body, p.cfg.max_request_bytes).await?;
        if bytes.is_empty() {
            None
        } else {
            let form = http::form_body(headers, &bytes).map_err(|e| invalid(&e.to_string()))?;
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
    let body = serde_json::to_value(&info).unwrap_or_default();
    match client.userinfo_alg {
        None => Ok(http::json_response(StatusCode::OK, &body, true)),
        Some(alg) => signed(p, &client.id, alg, body),
    }
}

/// A signed UserInfo response (OIDC Core §5.3.2): the claims with `iss` and `aud`, as a JWT of the client's
/// registered algorithm, served as `application/jwt`.
#[allow(clippy::result_large_err)] // the error is the response, built once per request
fn signed(
    p: &Provider,
    client_id: &str,
    alg: portcullis_jose::Algorithm,
    body: serde_json::Value,
) -> HttpResult<Response> {
    let failed = |_| {
        http::oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the response could not be signed",
        )
    };
    let serde_json::Value::Object(mut claims) = body else {
        return Err(failed(()));
    };
    claims.insert("iss".into(), json!(p.cfg.issuer));
    claims.insert("aud".into(), json!(client_id));
    claims.insert("iat".into(), json!(now()));
    let keys = p.keys();
    let token = keys
        .signer(alg)
        .ok_or(())
        .and_then(|key| {
            portcullis_jose::jwt::encode_value(
                &portcullis_jose::jws::Header::new(alg),
                &claims,
                key,
            )
            .map_err(|_| ())
        })
        .map_err(failed)?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/jwt")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(token))
        .map_err(|_| failed(()))
}

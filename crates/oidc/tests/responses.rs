//! Authorization and token responses: spec examples, escaping, JARM, error codes.

use portcullis_jose::{Algorithm, Jwk, JwkSet};
use portcullis_oidc::{
    AuthorizationResponse, ErrorCode, NO_STORE_HEADERS, OidcError, Params, ResponseMode,
    TokenErrorResponse, TokenResponse, form_post_html, sanitize_description,
};

fn success(state: Option<&str>) -> AuthorizationResponse {
    AuthorizationResponse::Success {
        code: Some("SplxlOBeZQQYbYS6WxSbIA".into()),
        id_token: None,
        access_token: None,
        expires_in: None,
        state: state.map(str::to_owned),
        iss: "https://server.example.com".into(),
    }
}

#[test]
fn rfc6749_4_1_2_query_response_with_rfc9207_iss() {
    let url = success(Some("xyz"))
        .redirect_url("https://client.example.com/cb", ResponseMode::Query)
        .unwrap();
    assert_eq!(
        url,
        "https://client.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&iss=https%3A%2F%2Fserver.example.com&state=xyz"
    );
    // A registered query is kept; the fragment mode uses '#'.
    let url = success(None)
        .redirect_url(
            "https://client.example.com/cb?tenant=1",
            ResponseMode::Query,
        )
        .unwrap();
    assert!(url.starts_with("https://client.example.com/cb?tenant=1&code="));
    let url = success(None)
        .redirect_url("https://client.example.com/cb", ResponseMode::Fragment)
        .unwrap();
    assert!(url.starts_with("https://client.example.com/cb#code="));
    assert_eq!(
        success(None).redirect_url("https://client.example.com/cb", ResponseMode::FormPost),
        Err(OidcError::InvalidParameter("response_mode"))
    );
    assert_eq!(
        success(None).redirect_url("https://client.example.com/cb#x", ResponseMode::Query),
        Err(OidcError::InvalidParameter("redirect_uri"))
    );
}

#[test]
fn implicit_response_carries_token_type_and_expiry() {
    let r = AuthorizationResponse::Success {
        code: None,
        id_token: Some("a.b.c".into()),
        access_token: Some("SlAV32hkKG".into()),
        expires_in: Some(3600),
        state: Some("af0ifjsldkj".into()),
        iss: "https://server.example.com".into(),
    };
    let p = r.to_params();
    assert_eq!(p.get("token_type"), Some("Bearer"));
    assert_eq!(p.get("expires_in"), Some("3600"));
    assert_eq!(p.get("id_token"), Some("a.b.c"));
}

#[test]
fn form_post_escapes_everything() {
    let evil = "\"><script>alert(1)</script>&'";
    let html = form_post_html(
        "https://client.example.com/cb?a=1&b=\"2\"",
        &success(Some(evil)).to_params(),
    );
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#x27;"));
    assert!(html.contains("action=\"https://client.example.com/cb?a=1&amp;b=&quot;2&quot;\""));
    assert!(html.contains("name=\"code\" value=\"SplxlOBeZQQYbYS6WxSbIA\""));
}

#[test]
fn error_responses_are_sanitized() {
    let r = AuthorizationResponse::Error {
        error: ErrorCode::AccessDenied,
        description: Some("user said \"no\"\\\n".into()),
        state: Some("s".into()),
        iss: "https://op".into(),
    };
    let p = r.to_params();
    assert_eq!(p.get("error"), Some("access_denied"));
    assert_eq!(p.get("error_description"), Some("user said ?no???"));
    assert_eq!(sanitize_description("ok é"), "ok ?");
    let t = TokenErrorResponse {
        error: ErrorCode::InvalidClient,
        description: Some("bad".into()),
    };
    assert_eq!(t.status(), 401);
    assert_eq!(
        t.to_json(),
        r#"{"error":"invalid_client","error_description":"bad"}"#
    );
    let from = TokenErrorResponse::from(&OidcError::RepeatedParameter("code".into()));
    assert_eq!(
        (from.error, from.status()),
        (ErrorCode::InvalidRequest, 400)
    );
    for c in ErrorCode::ALL {
        assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
    }
    assert_eq!(NO_STORE_HEADERS[0], ("Cache-Control", "no-store"));
}

#[test]
fn jarm_round_trip_and_rejects() {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let keys = JwkSet::new(vec![key.to_public().unwrap()]);
    let r = success(Some("xyz"));
    let jwt = r
        .to_jarm(
            "s6BhdRkqt3",
            60,
            Algorithm::Es256,
            &key.signing_key().unwrap(),
        )
        .unwrap();
    let back = AuthorizationResponse::from_jarm(
        &jwt,
        "https://server.example.com",
        "s6BhdRkqt3",
        &keys,
        Algorithm::Es256,
    )
    .unwrap();
    assert_eq!(back, r);
    let url = portcullis_oidc::redirect_with(
        "https://client.example.com/cb",
        ResponseMode::QueryJwt,
        &Params::from_pairs([("response", jwt.as_str().into())]),
    )
    .unwrap();
    assert!(url.starts_with("https://client.example.com/cb?response=ey"));
    let bad = OidcError::InvalidParameter("response");
    assert_eq!(
        AuthorizationResponse::from_jarm(
            &jwt,
            "https://server.example.com",
            "other",
            &keys,
            Algorithm::Es256
        ),
        Err(bad.clone())
    );
    assert_eq!(
        AuthorizationResponse::from_jarm(
            &jwt,
            "https://evil.example",
            "s6BhdRkqt3",
            &keys,
            Algorithm::Es256
        ),
        Err(bad.clone())
    );
    assert_eq!(
        AuthorizationResponse::from_jarm(
            &jwt,
            "https://server.example.com",
            "s6BhdRkqt3",
            &keys,
            Algorithm::Rs256
        ),
        Err(bad)
    );
}

#[test]
fn oidc_core_3_1_3_3_token_response() {
    let body = r#"{"access_token":"SlAV32hkKG","token_type":"Bearer","refresh_token":"8xLOxBtZp8","expires_in":3600,"id_token":"eyJhbGciOiJSUzI1NiIsImtpZCI6IjFlOWdkazcifQ.e30.sig"}"#;
    let t: TokenResponse = serde_json::from_str(body).unwrap();
    assert_eq!(
        (t.access_token.as_str(), t.token_type.as_str(), t.expires_in),
        ("SlAV32hkKG", "Bearer", Some(3600))
    );
    let again: TokenResponse = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(again, t);
}

/// `error_description` may hold only %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §4.1.2.1): every message of
/// `OidcError` is written without the characters that would be replaced (quotes, backslash, non-ASCII).
#[test]
fn error_descriptions_need_no_replacement() {
    use portcullis_oidc::{OidcError, sanitize_description};
    let all = [
        OidcError::TooLarge,
        OidcError::MalformedForm,
        OidcError::RepeatedParameter("scope".into()),
        OidcError::MissingParameter("code_challenge"),
        OidcError::InvalidParameter("response_mode"),
        OidcError::UnsupportedResponseType,
        OidcError::UnsupportedGrantType,
        OidcError::Pkce(portcullis_pkce::PkceError::PlainNotAllowed),
        OidcError::ClientAuthentication("client authentication failed"),
        OidcError::RequestObject("the client has no registered keys"),
        OidcError::InvalidGrant("unknown code"),
        OidcError::UnauthorizedClient("implicit grant not registered"),
        OidcError::InvalidScope,
        OidcError::RequestAndRequestUri,
    ];
    for e in all {
        let text = e.to_string();
        assert_eq!(sanitize_description(&text), text, "{e:?}");
    }
    assert_eq!(
        OidcError::MissingParameter("code_challenge").to_string(),
        "missing parameter code_challenge"
    );
}

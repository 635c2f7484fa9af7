//! The authorization request itself (OpenID Connect Core §3.1.2.1–§3.1.2.2, RFC 7636 §4.4): plans
//! `oidcc-ensure-registered-redirect-uri`, `oidcc-response-type-missing`, `oidcc-unknown-parameters`,
//! `oidcc-ensure-post-request-succeeds`, unknown clients, the nonce rule and PKCE — which errors get an
//! error page (no trusted redirect URI yet) and which go back to the client. When the user is asked is
//! `prompts`'; response types and modes are `authorize_flows`'; request objects and PAR have their own
//! modules.

use crate::common::*;
use reqwest::StatusCode;

every_case!(
    oidcc_ensure_registered_redirect_uri,
    oidcc_unknown_client_id,
    oidcc_response_type_missing,
    oidcc_unknown_parameters_ignored,
    oidcc_nonce_required_for_implicit_and_hybrid,
    oidcc_post_authorization_request,
    pkce_plain_refused_and_challenge_required,
    error_descriptions_read_without_replaced_characters
);

/// oidcc-ensure-registered-redirect-uri: an unregistered redirect_uri gets an error page, never a redirect.
async fn oidcc_ensure_registered_redirect_uri(op: &Op) {
    let mut b = Browser::default();
    for bad in [
        "https://attacker.example/cb",
        "https://rp.example/cb/",
        "https://rp.example/cb?x=1",
        "https://RP.example/cb",
    ] {
        let q = AuthReq::new("public", "code", "openid")
            .set("redirect_uri", bad)
            .query();
        match b.authorize(op, &q).await {
            Step::ErrorPage(s, body) => {
                assert_eq!(s, StatusCode::BAD_REQUEST);
                assert!(body.contains("redirect_uri"), "{body}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let q = AuthReq::new("public", "code", "openid")
        .without("redirect_uri")
        .query();
    assert!(matches!(
        b.authorize(op, &q).await,
        Step::ErrorPage(StatusCode::BAD_REQUEST, _)
    ));
}

/// Unknown client_id: an error page, never a redirect.
async fn oidcc_unknown_client_id(op: &Op) {
    let mut b = Browser::default();
    let q = AuthReq::new("nobody", "code", "openid").query();
    match b.authorize(op, &q).await {
        Step::ErrorPage(s, body) => {
            assert_eq!(s, StatusCode::BAD_REQUEST);
            assert!(body.contains("invalid_client"));
        }
        other => panic!("{other:?}"),
    }
}

/// oidcc-response-type-missing: the error goes back to the (registered) redirect URI.
async fn oidcc_response_type_missing(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid").without("response_type");
    let cb = b.authorize(op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "invalid_request");
    assert_eq!(cb["state"], req.state);
    let cb = b
        .authorize(op, &AuthReq::new("public", "token", "openid").query())
        .await
        .redirect();
    assert_eq!(cb["error"], "unsupported_response_type");
}

/// oidcc-unknown-parameters: unknown parameters are ignored.
async fn oidcc_unknown_parameters_ignored(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid")
        .set("x_extra", "whatever")
        .set("foo", "bar");
    let step = b.authorize(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert!(cb.contains_key("code"));
}

/// The nonce is carried into the ID token and required for implicit and hybrid responses with an ID token.
async fn oidcc_nonce_required_for_implicit_and_hybrid(op: &Op) {
    let mut b = Browser::default();
    for rt in [
        "id_token",
        "id_token token",
        "code id_token",
        "code id_token token",
    ] {
        let q = AuthReq::new("public", rt, "openid")
            .without("nonce")
            .query();
        let cb = b.authorize(op, &q).await.redirect();
        assert_eq!(cb["error"], "invalid_request", "{rt}");
        assert!(cb.contains_key("iss"));
    }
    // code alone does not need one.
    let q = AuthReq::new("public", "code", "openid")
        .without("nonce")
        .query();
    assert!(matches!(b.authorize(op, &q).await, Step::Login(_)));
}

/// oidcc-ensure-post-request-succeeds: the authorization request as a POST form.
async fn oidcc_post_authorization_request(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid");
    let step = b.authorize_post(op, &req.query()).await;
    let cb = b.complete(op, step, "alice").await.redirect();
    assert_eq!(
        redeem(op, &cb["code"], req.verifier.as_str()).await.0,
        StatusCode::OK
    );
    // The wrong content type is refused.
    let resp = op
        .http
        .post(op.url("/authorize"))
        .header("content-type", "application/json")
        .body(req.query())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

/// PKCE: plain is refused (S256 required), a missing challenge is refused for this client.
async fn pkce_plain_refused_and_challenge_required(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid")
        .set("code_challenge", &"a".repeat(43))
        .set("code_challenge_method", "plain");
    let cb = b.authorize(op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "invalid_request");
    let req = AuthReq::new("public", "code", "openid")
        .without("code_challenge")
        .without("code_challenge_method");
    let cb = b.authorize(op, &req.query()).await.redirect();
    assert_eq!(cb["error"], "invalid_request");
    assert!(cb["error_description"].contains("code_challenge"));
}

/// `error_description` reads well: the provider writes no character RFC 6749 forbids there, so none is replaced
/// by `?` (before: `missing parameter ?code_challenge?`).
async fn error_descriptions_read_without_replaced_characters(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid")
        .without("code_challenge")
        .without("code_challenge_method");
    let cb = b.authorize(op, &req.query()).await.redirect();
    assert_eq!(cb["error_description"], "missing parameter code_challenge");
    let req = AuthReq::new("public", "code", "openid").set("response_mode", "sideways");
    let cb = b.authorize(op, &req.query()).await.redirect();
    assert_eq!(cb["error_description"], "invalid value for response_mode");
    let (_, e) = token(
        op,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert!(
        !e["error_description"].as_str().unwrap().contains('?'),
        "{e}"
    );
}

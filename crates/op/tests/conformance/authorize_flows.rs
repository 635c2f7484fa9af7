//! Response types and response modes (OpenID Connect Core §3.2–§3.3, OAuth 2.0 Form Post Response
//! Mode, JARM): plans `oidcc-implicit` and `oidcc-hybrid` with `at_hash` and `c_hash` checked, the
//! fragment by default, `form_post`, and the signed `jwt` modes. Whether a request is valid at all is
//! `authorize`'s.

use crate::common::*;
use crate::support::expect;
use portcullis_oidc::{AuthorizationResponse, verify_id_token};
use reqwest::StatusCode;

every_case!(
    oidcc_implicit_and_hybrid,
    response_modes_form_post_and_jarm,
    tokens_are_never_put_in_a_query
);

/// oidcc-implicit and hybrid flows, with at_hash / c_hash checked.
async fn oidcc_implicit_and_hybrid(op: &Op) {
    let mut b = Browser::default();
    let jwks = op.jwks().await;
    for rt in [
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ] {
        let req = AuthReq::new("public", rt, "openid email");
        let step = b.authorize(op, &req.query()).await;
        let step = b.complete(op, step, "alice").await;
        assert!(
            step.location().starts_with("https://rp.example/cb#"),
            "{rt}: fragment by default"
        );
        let cb = step.redirect();
        assert_eq!(cb["iss"], op.base);
        if rt.contains("id_token") {
            let mut e = expect(op, "public", &req.nonce);
            e.access_token = cb.get("access_token").map(String::as_str);
            e.access_token_from_front_channel = cb.contains_key("access_token");
            e.code = cb.get("code").map(String::as_str);
            let t = verify_id_token(&cb["id_token"], &jwks, ALGS, &e)
                .unwrap_or_else(|err| panic!("{rt}: {err}"));
            if rt == "id_token" {
                assert_eq!(
                    t.claims.custom["email"], "demo@portcullis.example",
                    "no access token: scope claims in the ID token"
                );
            }
        }
        if rt.contains("token") && !rt.ends_with("id_token") {
            assert_eq!(cb["token_type"], "Bearer");
            assert_eq!(userinfo(op, &cb["access_token"]).await.0, StatusCode::OK);
        }
        if rt.starts_with("code") {
            assert_eq!(
                redeem(op, &cb["code"], req.verifier.as_str()).await.0,
                StatusCode::OK,
                "{rt}"
            );
        }
    }
}

/// Response modes: form_post (escaped auto-submit page) and JARM (signed response JWT).
async fn response_modes_form_post_and_jarm(op: &Op) {
    let mut b = Browser::default();
    let req = AuthReq::new("public", "code", "openid").set("response_mode", "form_post");
    let step = b.authorize(op, &req.query()).await;
    match b.complete(op, step, "alice").await {
        Step::FormPost(html) => {
            assert!(html.contains("action=\"https://rp.example/cb\""));
            assert!(hidden(&html, "code").is_some());
            assert_eq!(hidden(&html, "state").unwrap(), req.state);
        }
        other => panic!("{other:?}"),
    }
    let jwks = op.jwks().await;
    for (mode, sep) in [("jwt", '?'), ("query.jwt", '?'), ("fragment.jwt", '#')] {
        let req = AuthReq::new("public", "code", "openid").set("response_mode", mode);
        let step = b.authorize(op, &req.query()).await;
        let step = b.complete(op, step, "alice").await;
        let loc = step.location().to_owned();
        assert!(
            loc.starts_with(&format!("https://rp.example/cb{sep}response=")),
            "{mode}: {loc}"
        );
        let cb = step.redirect();
        let resp =
            AuthorizationResponse::from_jarm(&cb["response"], &op.base, "public", &jwks, ALGS)
                .unwrap();
        match resp {
            AuthorizationResponse::Success {
                code: Some(code),
                state,
                ..
            } => {
                assert_eq!(state.as_deref(), Some(req.state.as_str()));
                assert_eq!(
                    redeem(op, &code, req.verifier.as_str()).await.0,
                    StatusCode::OK
                );
            }
            other => panic!("{other:?}"),
        }
        // A JARM response is not accepted for another client.
        assert!(
            AuthorizationResponse::from_jarm(&cb["response"], &op.base, "other", &jwks, ALGS)
                .is_err()
        );
    }
}

/// OAuth 2.0 Multiple Response Types section 5, JARM 2.3.1: a response type that returns an ID token or access
/// token is refused with `response_mode=query` or `query.jwt` (the error, which carries no token, goes back in
/// the query); `code` may use both; the same request with `fragment` works. At PAR too.
async fn tokens_are_never_put_in_a_query(op: &Op) {
    let mut b = Browser::default();
    code_flow(op, &mut b, "alice", "openid").await;
    for rt in [
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ] {
        for mode in ["query", "query.jwt"] {
            let req = AuthReq::new("public", rt, "openid").set("response_mode", mode);
            let step = b.authorize(op, &req.query()).await;
            let loc = step.location().to_owned();
            assert!(
                loc.starts_with("https://rp.example/cb?"),
                "{rt} {mode}: {loc}"
            );
            assert!(
                !loc.contains("access_token") && !loc.contains("id_token="),
                "{loc}"
            );
            if mode == "query" {
                let cb = params_of(&loc);
                assert_eq!(cb["error"], "invalid_request", "{rt} {mode}");
                assert_eq!(cb["state"], req.state);
            }
        }
        let req = AuthReq::new("public", rt, "openid").set("response_mode", "fragment");
        let loc = b.authorize(op, &req.query()).await.location().to_owned();
        assert!(loc.starts_with("https://rp.example/cb#"), "{loc}");
        assert!(!params_of(&loc).contains_key("error"), "{loc}");
    }
    for mode in ["query", "query.jwt"] {
        let req = AuthReq::new("public", "code", "openid").set("response_mode", mode);
        let loc = b.authorize(op, &req.query()).await.location().to_owned();
        assert!(loc.starts_with("https://rp.example/cb?"), "{loc}");
        assert!(!loc.contains("error="), "{mode}: {loc}");
    }
    // Pushed: refused when pushed, with JSON.
    let mut form: Vec<(String, String)> = AuthReq::new("public", "code id_token", "openid")
        .set("response_mode", "query")
        .pairs;
    form.push(("client_id".into(), "public".into()));
    let r = op
        .http
        .post(op.url("/par"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_request");
}

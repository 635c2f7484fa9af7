//! Spec examples, every reject path with its OAuth error code, and round trips.

use portcullis_jose::Algorithm;
use portcullis_oidc::{
    AuthorizationRequest, ClientAuthMethod, ClientAuthentication, Display, ErrorCode, Grant,
    GrantType, OidcError, Params, Prompt, ResponseMode, ResponseType, TokenRequest,
    check_token_hash, token_hash,
};
use portcullis_pkce::{Method, PkceError, Policy};
use proptest::prelude::*;

#[test]
fn oidc_core_3_1_2_1_example_request() {
    let q = "response_type=code&scope=openid%20profile%20email&client_id=s6BhdRkqt3&state=af0ifjsldkj\
             &redirect_uri=https%3A%2F%2Fclient.example.org%2Fcb";
    let r = AuthorizationRequest::parse(q).unwrap();
    assert_eq!(r.response_type, ResponseType::CODE);
    assert_eq!(r.client_id, "s6BhdRkqt3");
    assert_eq!(
        r.redirect_uri.as_deref(),
        Some("https://client.example.org/cb")
    );
    assert_eq!(r.scope.to_string(), "openid profile email");
    assert_eq!(r.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(r.effective_response_mode(), ResponseMode::Query);
}

#[test]
fn every_response_type_combination_in_any_order() {
    let cases = [
        ("code", ResponseType::CODE),
        ("id_token", ResponseType::ID_TOKEN),
        ("token id_token", ResponseType::ID_TOKEN_TOKEN),
        ("id_token code", ResponseType::CODE_ID_TOKEN),
        ("token code", ResponseType::CODE_TOKEN),
        ("token id_token code", ResponseType::CODE_ID_TOKEN_TOKEN),
        ("id_token token code", ResponseType::CODE_ID_TOKEN_TOKEN),
    ];
    for (wire, want) in cases {
        let rt = ResponseType::parse(wire).unwrap();
        assert_eq!(rt, want);
        assert_eq!(ResponseType::parse(&rt.to_string()).unwrap(), rt);
    }
    for bad in [
        "",
        "token",
        "none",
        "code code",
        "code  id_token",
        "Code",
        "code id_token token x",
        " code",
    ] {
        assert_eq!(
            ResponseType::parse(bad),
            Err(OidcError::UnsupportedResponseType),
            "{bad:?}"
        );
        assert_eq!(
            OidcError::UnsupportedResponseType.code(),
            ErrorCode::UnsupportedResponseType
        );
    }
}

#[test]
fn closed_sets_round_trip_their_wire_spelling() {
    for m in ResponseMode::ALL {
        assert_eq!(ResponseMode::parse(m.as_str()), Ok(*m));
    }
    for g in GrantType::ALL {
        assert_eq!(GrantType::parse(g.as_str()), Ok(*g));
    }
    for p in Prompt::ALL {
        assert_eq!(Prompt::parse(p.as_str()), Ok(*p));
    }
    for d in Display::ALL {
        assert_eq!(Display::parse(d.as_str()), Ok(*d));
    }
    for c in ClientAuthMethod::ALL {
        assert_eq!(ClientAuthMethod::parse(c.as_str()), Ok(*c));
    }
    assert_eq!(
        GrantType::parse("password"),
        Err(OidcError::UnsupportedGrantType)
    );
    assert_eq!(
        ResponseMode::Jwt.resolve(ResponseType::CODE),
        ResponseMode::QueryJwt
    );
    assert_eq!(
        ResponseMode::Jwt.resolve(ResponseType::CODE_ID_TOKEN),
        ResponseMode::FragmentJwt
    );
    assert!(ResponseMode::FormPostJwt.is_jwt() && !ResponseMode::FormPost.is_jwt());
}

#[test]
fn full_request_with_pkce_claims_and_unknown_parameters() {
    let claims =
        r#"{"userinfo":{"email":{"essential":true}},"id_token":{"auth_time":{"essential":true}}}"#;
    let q = Params::from_pairs([
        ("response_type", "code id_token".into()),
        ("client_id", "c".into()),
        ("redirect_uri", "https://rp.example/cb".into()),
        ("scope", "openid avatar payment_details".into()),
        ("nonce", "n-0S6_WzA2Mj".into()),
        ("response_mode", "form_post.jwt".into()),
        ("prompt", "login consent".into()),
        ("max_age", "0".into()),
        ("display", "popup".into()),
        ("ui_locales", "fr-CA fr en".into()),
        ("acr_values", "urn:mace:incommon:iap:silver".into()),
        ("claims", claims.into()),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        ),
        ("code_challenge_method", "S256".into()),
        ("x-unknown", "kept".into()),
    ])
    .to_form();
    let r = AuthorizationRequest::parse(&q).unwrap();
    assert_eq!(r.prompt, vec![Prompt::Login, Prompt::Consent]);
    assert_eq!(r.max_age, Some(0));
    assert_eq!(r.display, Some(Display::Popup));
    assert_eq!(r.ui_locales, vec!["fr-CA", "fr", "en"]);
    assert_eq!(r.code_challenge.as_ref().unwrap().method(), Method::S256);
    let c = r.claims.as_ref().unwrap();
    assert!(c.userinfo["email"].essential);
    assert!(c.id_token["auth_time"].essential);
    assert_eq!(r.extra.get("x-unknown").map(String::as_str), Some("kept"));
    assert_eq!(r.effective_response_mode(), ResponseMode::FormPostJwt);
    assert_eq!(
        AuthorizationRequest::parse(&r.to_params().to_form()).unwrap(),
        r
    );
}

#[test]
fn authorization_request_rejects_with_the_right_code() {
    let base = "response_type=code&client_id=c&redirect_uri=https%3A%2F%2Frp%2Fcb&scope=openid";
    let cases: Vec<(String, OidcError)> = vec![
        (
            format!("{base}&client_id=d"),
            OidcError::RepeatedParameter("client_id".into()),
        ),
        (
            format!("{base}&state=a&state=a"),
            OidcError::RepeatedParameter("state".into()),
        ),
        (
            "response_type=code&scope=openid&redirect_uri=x".into(),
            OidcError::MissingParameter("client_id"),
        ),
        (
            "client_id=c".into(),
            OidcError::MissingParameter("response_type"),
        ),
        (
            "response_type=code&client_id=c&scope=openid".into(),
            OidcError::MissingParameter("redirect_uri"),
        ),
        (
            base.replace("code", "id_token"),
            OidcError::MissingParameter("nonce"),
        ),
        (
            format!("{base}&prompt=none%20login"),
            OidcError::InvalidParameter("prompt"),
        ),
        (
            format!("{base}&prompt=login%20login"),
            OidcError::InvalidParameter("prompt"),
        ),
        (
            format!("{base}&prompt=always"),
            OidcError::InvalidParameter("prompt"),
        ),
        (
            format!("{base}&max_age=-1"),
            OidcError::InvalidParameter("max_age"),
        ),
        (
            format!("{base}&max_age=1.5"),
            OidcError::InvalidParameter("max_age"),
        ),
        (
            format!("{base}&max_age=+10"),
            OidcError::InvalidParameter("max_age"),
        ),
        (
            format!("{base}&max_age=99999999999999999999"),
            OidcError::InvalidParameter("max_age"),
        ),
        (
            format!("{base}&display=fullscreen"),
            OidcError::InvalidParameter("display"),
        ),
        (
            format!("{base}&response_mode=post"),
            OidcError::InvalidParameter("response_mode"),
        ),
        (
            format!("{base}&claims=%5B%5D"),
            OidcError::InvalidParameter("claims"),
        ),
        (
            format!("{base}&claims=%7B%22userinfo%22%3A1%7D"),
            OidcError::InvalidParameter("claims"),
        ),
        (
            format!("{base}&claims=%7B"),
            OidcError::InvalidParameter("claims"),
        ),
        (
            base.replace("scope=openid", "scope=openid%20%22x"),
            OidcError::InvalidParameter("scope"),
        ),
        (
            format!("{base}&code_challenge_method=S256"),
            OidcError::InvalidParameter("code_challenge_method"),
        ),
        (
            format!("{base}&code_challenge=abc&code_challenge_method=S256"),
            OidcError::Pkce(PkceError::InvalidChallenge),
        ),
        (
            format!("{base}&code_challenge={}", "a".repeat(43)),
            OidcError::Pkce(PkceError::PlainNotAllowed),
        ),
        (
            format!("{base}&request=a.b.c&request_uri=urn%3Ax"),
            OidcError::RequestAndRequestUri,
        ),
        (format!("{base}&state=%ZZ"), OidcError::MalformedForm),
        (format!("{base}&state=%E"), OidcError::MalformedForm),
        (format!("{base}&state=%FF%FE"), OidcError::MalformedForm),
        (
            format!("{base}&state={}", "a".repeat(70_000)),
            OidcError::TooLarge,
        ),
    ];
    for (q, want) in cases {
        let got = AuthorizationRequest::parse(&q).unwrap_err();
        assert_eq!(got, want, "{}", &q[..q.len().min(120)]);
        assert_eq!(got.code(), ErrorCode::InvalidRequest);
    }
    // plain is accepted only under an explicit policy.
    let q = format!(
        "{base}&code_challenge={}&code_challenge_method=plain",
        "a".repeat(43)
    );
    assert_eq!(
        AuthorizationRequest::parse_with(&q, &Policy::allowing_plain())
            .unwrap()
            .code_challenge
            .unwrap()
            .method(),
        Method::Plain
    );
    // Empty values count as absent (RFC 6749 §3.1).
    assert_eq!(
        AuthorizationRequest::parse(&format!("{base}&state="))
            .unwrap()
            .state,
        None
    );
}

#[test]
fn rfc6749_4_1_3_token_request_with_basic_auth() {
    let body = "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA\
                &redirect_uri=https%3A%2F%2Fclient%2Eexample%2Ecom%2Fcb";
    let t = TokenRequest::parse(body, Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW")).unwrap();
    assert_eq!(
        t.grant,
        Grant::AuthorizationCode {
            code: "SplxlOBeZQQYbYS6WxSbIA".into(),
            redirect_uri: Some("https://client.example.com/cb".into()),
            code_verifier: None,
        }
    );
    assert_eq!(
        t.client,
        ClientAuthentication::SecretBasic {
            client_id: "s6BhdRkqt3".into(),
            secret: "gX1fBat3bV".into()
        }
    );
    assert_eq!(t.client.client_id(), Some("s6BhdRkqt3"));
}

#[test]
fn basic_credentials_are_form_decoded() {
    use base64::Engine as _;
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding; a ':' in the secret is %3A.
    let raw = "my%20client:p%C3%A4ss%3Aword+x";
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    let t = TokenRequest::parse("grant_type=client_credentials", Some(&header)).unwrap();
    assert_eq!(
        t.client,
        ClientAuthentication::SecretBasic {
            client_id: "my client".into(),
            secret: "päss:word x".into()
        }
    );
}

#[test]
fn token_request_rejects() {
    let ac = "grant_type=authorization_code&code=c";
    let basic = Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
    let assertion = "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c";
    let cases: Vec<(String, Option<&str>, OidcError)> = vec![
        (
            format!("{ac}&client_id=x&client_secret=s"),
            basic,
            OidcError::ClientAuthentication("more than one client authentication method"),
        ),
        (
            format!("{ac}&{assertion}"),
            basic,
            OidcError::ClientAuthentication("more than one client authentication method"),
        ),
        (
            format!("{ac}&client_id=x&client_secret=s&{assertion}"),
            None,
            OidcError::ClientAuthentication("more than one client authentication method"),
        ),
        (
            format!("{ac}&client_id=other"),
            basic,
            OidcError::ClientAuthentication("client_id differs from the Basic credentials"),
        ),
        (
            format!("{ac}&client_secret=s"),
            None,
            OidcError::ClientAuthentication("client_secret without client_id"),
        ),
        (
            format!("{ac}&client_assertion=a.b.c"),
            None,
            OidcError::ClientAuthentication(
                "client_assertion and client_assertion_type go together",
            ),
        ),
        (
            format!("{ac}&client_assertion=a&client_assertion_type=saml"),
            None,
            OidcError::ClientAuthentication("unsupported client_assertion_type"),
        ),
        (
            ac.to_string(),
            None,
            OidcError::ClientAuthentication("no client identification"),
        ),
        (
            ac.to_string(),
            Some("Bearer abc"),
            OidcError::ClientAuthentication("unsupported Authorization scheme"),
        ),
        (
            ac.to_string(),
            Some("Basic !!!"),
            OidcError::ClientAuthentication("malformed Basic credentials"),
        ),
        (
            ac.to_string(),
            Some("Basic bm9jb2xvbg=="),
            OidcError::ClientAuthentication("malformed Basic credentials"),
        ),
        (
            "grant_type=authorization_code&client_id=x".into(),
            None,
            OidcError::MissingParameter("code"),
        ),
        (
            "grant_type=refresh_token&client_id=x".into(),
            None,
            OidcError::MissingParameter("refresh_token"),
        ),
        (
            "grant_type=password&client_id=x".into(),
            None,
            OidcError::UnsupportedGrantType,
        ),
        (
            "client_id=x".into(),
            None,
            OidcError::MissingParameter("grant_type"),
        ),
        (
            format!("{ac}&code=d&client_id=x"),
            None,
            OidcError::RepeatedParameter("code".into()),
        ),
    ];
    for (body, header, want) in cases {
        let got = TokenRequest::parse(&body, header).unwrap_err();
        assert_eq!(got, want, "{body}");
    }
    assert_eq!(
        OidcError::ClientAuthentication("x").code(),
        ErrorCode::InvalidClient
    );
    assert_eq!(
        OidcError::UnsupportedGrantType.code(),
        ErrorCode::UnsupportedGrantType
    );
    let t = TokenRequest::parse(&format!("{ac}&client_id=x&{assertion}"), None).unwrap();
    assert_eq!(
        t.client,
        ClientAuthentication::JwtAssertion {
            client_id: Some("x".into()),
            assertion: "a.b.c".into()
        }
    );
    let t = TokenRequest::parse(
        "grant_type=refresh_token&refresh_token=r&scope=openid&client_id=x&client_secret=s",
        None,
    )
    .unwrap();
    assert!(matches!(
        t.grant,
        Grant::RefreshToken { scope: Some(_), .. }
    ));
    assert!(matches!(t.client, ClientAuthentication::SecretPost { .. }));
}

#[test]
fn oidc_core_appendix_a_hashes() {
    // A.3 at_hash and A.4 c_hash, RS256.
    assert_eq!(
        token_hash(
            Algorithm::Rs256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        ),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
    assert_eq!(
        token_hash(
            Algorithm::Rs256,
            "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
        ),
        "LDktKdoQak3Pk0cnXxCltA"
    );
    assert!(check_token_hash(
        Algorithm::Rs256,
        "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        "77QmUPtjPfzWtF2AnpK9RQ"
    ));
    assert!(!check_token_hash(
        Algorithm::Rs256,
        "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Z",
        "77QmUPtjPfzWtF2AnpK9RQ"
    ));
    // Length per algorithm: half of SHA-256/384/512; EdDSA uses SHA-512.
    for (alg, chars) in [
        (Algorithm::Es256, 22),
        (Algorithm::Es384, 32),
        (Algorithm::Ps512, 43),
        (Algorithm::EdDsa, 43),
        (Algorithm::Hs256, 22),
    ] {
        assert_eq!(token_hash(alg, "x").len(), chars, "{alg}");
    }
    // The same value hashes differently under SHA-256 and SHA-512 families.
    assert_ne!(
        token_hash(Algorithm::Es256, "x"),
        token_hash(Algorithm::EdDsa, "x")[..22]
    );
}

proptest! {
    #[test]
    fn authorization_requests_round_trip(
        state in proptest::option::of("[ -~]{1,20}"),
        nonce in "[A-Za-z0-9_-]{1,20}",
        max_age in proptest::option::of(0u64..10_000_000),
        scope in proptest::collection::vec("[a-z_]{1,8}", 0..4),
        rt in 0usize..6,
        mode in proptest::option::of(0usize..7),
    ) {
        let rts = [ResponseType::CODE, ResponseType::ID_TOKEN, ResponseType::ID_TOKEN_TOKEN, ResponseType::CODE_ID_TOKEN,
                   ResponseType::CODE_TOKEN, ResponseType::CODE_ID_TOKEN_TOKEN];
        let mut pairs = vec![
            ("response_type", rts[rt].to_string().into()),
            ("client_id", "client".into()),
            ("redirect_uri", "https://rp.example/cb?x=1&y=2".into()),
            ("scope", format!("openid {}", scope.join(" ")).into()),
            ("nonce", nonce.into()),
        ];
        if let Some(s) = state { pairs.push(("state", s.into())); }
        if let Some(m) = max_age { pairs.push(("max_age", m.to_string().into())); }
        if let Some(m) = mode { pairs.push(("response_mode", ResponseMode::ALL[m].as_str().into())); }
        let form = Params::from_pairs(pairs).to_form();
        let r = AuthorizationRequest::parse(&form).unwrap();
        prop_assert_eq!(AuthorizationRequest::parse(&r.to_params().to_form()).unwrap(), r);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,300}", h in proptest::option::of("\\PC{0,60}")) {
        let _ = AuthorizationRequest::parse(&s);
        let _ = TokenRequest::parse(&s, h.as_deref());
        let _ = Params::parse(&s);
    }
}

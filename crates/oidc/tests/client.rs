//! Client assertions (RFC 7523), redirect URI matching (exact; RFC 8252 loopback ports as opt-in), and client
//! metadata validation.

use std::collections::HashSet;

use portcullis_jose::{Algorithm, HmacKey, Jwk, JwkSet, jws, jwt};
use portcullis_oidc::{
    AssertionError, ClientMetadata, OidcError, RedirectUriRule, acceptable_redirect_uri,
    verify_client_assertion,
};
use serde_json::{Value, json};

const TOKEN_ENDPOINT: &str = "https://op.example/token";
const ISSUER: &str = "https://op.example";

fn now() -> u64 {
    jwt::NumericDate::now().as_secs()
}

fn assertion(key: &Jwk, claims: Value) -> String {
    jwt::encode_value(
        &jws::Header::new(Algorithm::Es256),
        &claims,
        &key.signing_key().unwrap(),
    )
    .unwrap()
}

#[test]
fn private_key_jwt_assertions() {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let keys = JwkSet::new(vec![key.to_public().unwrap()]);
    let mut seen = HashSet::new();
    let mut first_use = |jti: &str, _exp: u64| seen.insert(jti.to_owned());
    let good =
        json!({"iss": "c1", "sub": "c1", "aud": TOKEN_ENDPOINT, "exp": now() + 60, "jti": "j1"});
    let verify = |a: &str, f: &mut dyn FnMut(&str, u64) -> bool| {
        verify_client_assertion(
            a,
            "c1",
            &keys,
            Algorithm::Es256,
            &[TOKEN_ENDPOINT, ISSUER],
            300,
            f,
        )
    };
    assert_eq!(
        verify(&assertion(&key, good.clone()), &mut first_use),
        Ok("j1".into())
    );
    assert_eq!(
        verify(&assertion(&key, good.clone()), &mut first_use),
        Err(AssertionError::Replayed)
    );
    let mut with = |k: &str, v: Value| {
        let mut c = good.clone();
        c["jti"] = json!(format!("j-{k}"));
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        verify(&assertion(&key, c), &mut first_use)
    };
    assert_eq!(with("aud", json!(ISSUER)).map(|_| ()), Ok(()));
    assert_eq!(
        with("aud", json!("https://other.example/token")),
        Err(AssertionError::Jwt(
            portcullis_jose::Error::AudienceMismatch
        ))
    );
    assert_eq!(with("iss", json!("c2")), Err(AssertionError::WrongSubject));
    assert_eq!(with("sub", json!("c2")), Err(AssertionError::WrongSubject));
    assert_eq!(
        with("exp", json!(now() - 3600)),
        Err(AssertionError::Jwt(portcullis_jose::Error::Expired))
    );
    assert_eq!(
        with("exp", json!(now() + 86_400)),
        Err(AssertionError::LifetimeTooLong)
    );
    assert_eq!(with("jti", Value::Null), Err(AssertionError::MissingJti));
    // Another key: refused.
    let other = Jwk::generate(Algorithm::Es256).unwrap();
    let mut c = good.clone();
    c["jti"] = json!("j-other");
    let mut anon = other.clone();
    anon.set_kid(None);
    assert!(matches!(
        verify(&assertion(&anon, c), &mut first_use),
        Err(AssertionError::Jwt(_))
    ));
}

#[test]
fn client_secret_jwt_assertions() {
    let secret = HmacKey::new(b"a client secret of at least 32 bytes!!").unwrap();
    let claims =
        json!({"iss": "c1", "sub": "c1", "aud": [TOKEN_ENDPOINT], "exp": now() + 60, "jti": "x"});
    let a = jwt::encode_value(&jws::Header::new(Algorithm::Hs256), &claims, &secret).unwrap();
    let ok = verify_client_assertion(
        &a,
        "c1",
        &secret,
        Algorithm::Hs256,
        &[TOKEN_ENDPOINT],
        300,
        &mut |_, _| true,
    );
    assert_eq!(ok, Ok("x".into()));
    // The algorithm allow-list is the provider's: an HS256 assertion is refused where only ES256 is allowed.
    let no = verify_client_assertion(
        &a,
        "c1",
        &secret,
        Algorithm::Es256,
        &[TOKEN_ENDPOINT],
        300,
        &mut |_, _| true,
    );
    assert_eq!(
        no,
        Err(AssertionError::Jwt(
            portcullis_jose::Error::AlgorithmNotAllowed(Algorithm::Hs256)
        ))
    );
}

#[test]
fn redirect_uri_matching() {
    let registered = vec![
        "https://rp.example/cb".to_string(),
        "http://127.0.0.1/callback".to_string(),
        "http://[::1]:8081/cb".to_string(),
    ];
    let exact = RedirectUriRule::default();
    assert!(exact.matches(&registered, "https://rp.example/cb"));
    for no in [
        "https://rp.example/cb/",
        "https://RP.example/cb",
        "https://rp.example/cb?x=1",
        "https://rp.example/cb#",
        "http://127.0.0.1:5000/callback",
    ] {
        assert!(!exact.matches(&registered, no), "{no}");
    }
    let native = RedirectUriRule::ExactWithLoopbackPorts;
    assert!(native.matches(&registered, "http://127.0.0.1:5000/callback"));
    assert!(native.matches(&registered, "http://[::1]:9/cb"));
    for no in [
        "http://127.0.0.1:5000/callback/x",
        "http://127.0.0.1:5000/other",
        "http://127.0.0.1.evil.example:5000/callback",
        "http://localhost:5000/callback",
        "https://127.0.0.1:5000/callback",
        "http://127.0.0.1:/callback",
        "http://127.0.0.1:50a0/callback",
        "https://rp.example:443/cb",
    ] {
        assert!(!native.matches(&registered, no), "{no}");
    }
}

#[test]
fn redirect_uris_a_client_may_register() {
    for ok in [
        "https://rp.example/cb",
        "http://127.0.0.1:8081/callback",
        "http://localhost/cb",
        "http://[::1]/cb",
        "com.example.app:/oauth2redirect",
    ] {
        assert!(acceptable_redirect_uri(ok), "{ok}");
    }
    for no in [
        "http://rp.example/cb",
        "https://rp.example/cb#f",
        "javascript:alert(1)",
        "myapp:/cb",
        "https:",
        "https://rp.example/c b",
        "",
        "http://127.0.0.1.evil.example/cb",
        // Userinfo hides the real host: these are evil.example's.
        "http://localhost:80@evil.example/bye",
        "http://127.0.0.1:1@evil.example/bye",
        "http://[::1]@evil.example/bye",
        "https://rp.example@evil.example/cb",
    ] {
        assert!(!acceptable_redirect_uri(no), "{no}");
    }
}

#[test]
fn client_metadata_rules() {
    let base = json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "client_secret_basic"});
    let parse = |v: &Value| ClientMetadata::from_json(v.to_string().as_bytes());
    let m = parse(&base).unwrap();
    assert_eq!(m.response_types, vec!["code"]);
    assert_eq!(m.grant_types, vec!["authorization_code"]);
    let with = |changes: Value| {
        let mut v = base.clone();
        for (k, val) in changes.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    parse(&with(json!({"response_types": ["code id_token"], "grant_types": ["authorization_code", "implicit"]}))).unwrap();
    parse(&with(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://rp.example/jwks"}))).unwrap();
    let cases: Vec<(Value, OidcError)> = vec![
        (
            with(json!({"response_types": ["id_token"]})),
            OidcError::InvalidParameter("grant_types"),
        ),
        (
            with(json!({"response_types": ["code"], "grant_types": ["client_credentials"]})),
            OidcError::InvalidParameter("grant_types"),
        ),
        (
            with(json!({"response_types": ["token"]})),
            OidcError::InvalidParameter("response_types"),
        ),
        (
            with(json!({"grant_types": ["password"]})),
            OidcError::InvalidParameter("grant_types"),
        ),
        (
            with(json!({"redirect_uris": []})),
            OidcError::MissingParameter("redirect_uris"),
        ),
        (
            with(json!({"redirect_uris": ["http://rp.example/cb"]})),
            OidcError::InvalidParameter("redirect_uris"),
        ),
        (
            with(json!({"redirect_uris": ["https://rp.example/cb#x"]})),
            OidcError::InvalidParameter("redirect_uris"),
        ),
        (
            with(json!({"token_endpoint_auth_method": "magic"})),
            OidcError::InvalidParameter("token_endpoint_auth_method"),
        ),
        (
            with(json!({"token_endpoint_auth_method": "private_key_jwt"})),
            OidcError::MissingParameter("jwks"),
        ),
        (
            with(json!({"jwks": {"keys": []}, "jwks_uri": "https://rp.example/jwks"})),
            OidcError::InvalidParameter("jwks"),
        ),
        (
            with(json!({"token_endpoint_auth_method": "tls_client_auth"})),
            OidcError::MissingParameter("tls_client_auth_subject_dn"),
        ),
        (
            with(json!({"subject_type": "secret"})),
            OidcError::InvalidParameter("subject_type"),
        ),
        (
            with(json!({"sector_identifier_uri": "http://rp.example/s.json"})),
            OidcError::InvalidParameter("sector_identifier_uri"),
        ),
        (
            with(json!({"id_token_signed_response_alg": "none"})),
            OidcError::InvalidParameter("id_token_signed_response_alg"),
        ),
        (
            with(json!({"authorization_signed_response_alg": "ES512"})),
            OidcError::InvalidParameter("authorization_signed_response_alg"),
        ),
        (
            with(json!({"redirect_uris": "https://rp.example/cb"})),
            OidcError::InvalidParameter("client_metadata"),
        ),
    ];
    for (v, want) in cases {
        assert_eq!(parse(&v).unwrap_err(), want, "{v}");
    }
    assert_eq!(
        ClientMetadata::from_json(
            br#"{"redirect_uris":["https://a/cb"],"redirect_uris":["https://b/cb"]}"#
        )
        .unwrap_err(),
        OidcError::InvalidParameter("client_metadata")
    );
}

/// A `jti` must be remembered as long as its assertion could be accepted: `first_use` is told `exp` plus the
/// leeway, also for an assertion whose `exp` has just passed (still within the leeway).
#[test]
fn assertion_jti_is_kept_until_exp_plus_leeway() {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let keys = JwkSet::new(vec![key.to_public().unwrap()]);
    for exp in [now() + 60, now() - 30] {
        let claims =
            json!({"iss": "c1", "sub": "c1", "aud": TOKEN_ENDPOINT, "exp": exp, "jti": "j"});
        let mut until = 0;
        let ok = verify_client_assertion(
            &assertion(&key, claims),
            "c1",
            &keys,
            Algorithm::Es256,
            &[TOKEN_ENDPOINT],
            300,
            &mut |_, u| {
                until = u;
                true
            },
        );
        assert_eq!(ok, Ok("j".into()), "exp {exp}");
        assert_eq!(until, exp + portcullis_oidc::ASSERTION_LEEWAY, "exp {exp}");
        assert!(until > now());
    }
}

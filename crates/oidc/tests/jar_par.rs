//! Request objects (RFC 9101) and pushed authorization requests (RFC 9126).

use portcullis_jose::{Algorithm, Jwk, JwkSet, base64url, jws, jwt};
use portcullis_oidc::{
    ErrorCode, OidcError, PushedAuthorizationRequest, PushedAuthorizationResponse,
    RequestObjectPolicy, ResponseType, is_par_request_uri, new_par_request_uri,
    verify_request_object,
};
use portcullis_pkce::Policy;
use serde_json::{Value, json};

const ISSUER: &str = "https://server.example.com";

fn now() -> u64 {
    jwt::NumericDate::now().as_secs()
}

fn claims() -> Value {
    json!({
        "iss": "s6BhdRkqt3", "aud": ISSUER, "exp": now() + 300, "client_id": "s6BhdRkqt3",
        "response_type": "code id_token", "redirect_uri": "https://client.example.org/cb", "scope": "openid email",
        "state": "af0ifjsldkj", "nonce": "n-0S6_WzA2Mj", "max_age": 86400,
        "claims": {"userinfo": {"email": {"essential": true}}}
    })
}

fn sign(key: &Jwk, c: &Value) -> String {
    jwt::encode_value(
        &jws::Header::new(Algorithm::Es256).with_typ("oauth-authz-req+jwt"),
        c,
        &key.signing_key().unwrap(),
    )
    .unwrap()
}

#[test]
fn signed_request_object_is_verified_and_used_alone() {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let keys = JwkSet::new(vec![key.to_public().unwrap()]);
    let policy = RequestObjectPolicy::new(Algorithm::Es256);
    let r = verify_request_object(
        &sign(&key, &claims()),
        "s6BhdRkqt3",
        ISSUER,
        &keys,
        &policy,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(r.response_type, ResponseType::CODE_ID_TOKEN);
    assert_eq!(r.max_age, Some(86400));
    assert_eq!(r.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    assert!(r.claims.unwrap().userinfo["email"].essential);
    assert!(r.extra.is_empty(), "JWT claims are not parameters");
}

#[test]
fn request_object_rejects() {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let keys = JwkSet::new(vec![key.to_public().unwrap()]);
    let policy = RequestObjectPolicy::new(Algorithm::Es256);
    let verify = |token: &str, p: &RequestObjectPolicy| {
        verify_request_object(token, "s6BhdRkqt3", ISSUER, &keys, p, &Policy::default())
    };
    let with = |k: &str, v: Value| {
        let mut c = claims();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    let bad = |why| Err(OidcError::RequestObject(why));
    assert_eq!(
        verify(
            &sign(&key, &with("aud", json!("https://other.example"))),
            &policy
        ),
        bad("signature or claims invalid")
    );
    assert_eq!(
        verify(&sign(&key, &with("exp", json!(now() - 600))), &policy),
        bad("signature or claims invalid")
    );
    assert_eq!(
        verify(&sign(&key, &with("exp", Value::Null)), &policy),
        bad("signature or claims invalid")
    );
    assert_eq!(
        verify(&sign(&key, &with("exp", json!(now() + 86_400))), &policy),
        bad("lifetime too long")
    );
    assert_eq!(
        verify(&sign(&key, &with("client_id", json!("other"))), &policy),
        bad("client_id disagrees with the request")
    );
    assert_eq!(
        verify(&sign(&key, &with("iss", json!("other"))), &policy),
        bad("iss is not the client")
    );
    assert_eq!(
        verify(&sign(&key, &with("request_uri", json!("urn:x"))), &policy),
        bad("nested request objects")
    );
    assert_eq!(
        verify(&sign(&key, &with("state", json!(true))), &policy),
        bad("a parameter has the wrong type")
    );
    let mut other = Jwk::generate(Algorithm::Es256).unwrap();
    other.set_kid(None);
    assert_eq!(
        verify(&sign(&other, &claims()), &policy),
        bad("signature or claims invalid")
    );
    assert_eq!(
        verify(
            &sign(&key, &claims()),
            &RequestObjectPolicy::new(Algorithm::Rs256)
        ),
        bad("signature or claims invalid")
    );
    // The parameters inside are held to the authorization request rules.
    assert_eq!(
        verify(&sign(&key, &with("nonce", Value::Null)), &policy),
        Err(OidcError::MissingParameter("nonce"))
    );
    assert_eq!(
        OidcError::RequestObject("x").code(),
        ErrorCode::InvalidRequestObject
    );
}

#[test]
fn unsigned_request_objects_only_by_policy() {
    let keys = JwkSet::new(vec![]);
    let unsigned = format!(
        "{}.{}.",
        base64url::encode(br#"{"alg":"none"}"#),
        base64url::encode(claims().to_string().as_bytes())
    );
    let mut policy = RequestObjectPolicy::new(Algorithm::Es256);
    assert_eq!(
        verify_request_object(
            &unsigned,
            "s6BhdRkqt3",
            ISSUER,
            &keys,
            &policy,
            &Policy::default()
        ),
        Err(OidcError::RequestObject(
            "unsigned request objects are not accepted"
        ))
    );
    policy.allow_unsigned = true;
    verify_request_object(
        &unsigned,
        "s6BhdRkqt3",
        ISSUER,
        &keys,
        &policy,
        &Policy::default(),
    )
    .unwrap();
    // "None" with a signature, or extra header members, is not the unsigned form: it goes to JWS and fails there.
    let odd = format!(
        "{}.{}.",
        base64url::encode(br#"{"alg":"none","kid":"x"}"#),
        base64url::encode(b"{}")
    );
    assert!(
        verify_request_object(
            &odd,
            "s6BhdRkqt3",
            ISSUER,
            &keys,
            &policy,
            &Policy::default()
        )
        .is_err()
    );
}

#[test]
fn rfc9126_par_request_and_response() {
    let body = "response_type=code&client_id=CLIENT1234&state=duk681S8n00GsJpe7n9boxdzen\
                &redirect_uri=https%3A%2F%2Fclient.example.org%2Fcb\
                &code_challenge=K2-ltc83acc4h0c9w6ESC_rEMTJ3bww-uCHaoeK1t8U&code_challenge_method=S256\
                &scope=account-information";
    // The RFC's example authenticates as s6BhdRkqt3 while the body says CLIENT1234: refused as inconsistent.
    let auth = Some("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3");
    assert_eq!(
        PushedAuthorizationRequest::parse(body, auth, &Policy::default()),
        Err(OidcError::ClientAuthentication(
            "client_id differs from the Basic credentials"
        ))
    );
    let consistent = body.replace("CLIENT1234", "s6BhdRkqt3");
    let par = PushedAuthorizationRequest::parse(&consistent, auth, &Policy::default()).unwrap();
    assert_eq!(par.request.client_id, "s6BhdRkqt3");
    assert_eq!(par.client.client_id(), Some("s6BhdRkqt3"));
    assert_eq!(
        PushedAuthorizationRequest::parse(
            &format!("{consistent}&request_uri=urn%3Ax"),
            auth,
            &Policy::default()
        ),
        Err(OidcError::InvalidParameter("request_uri"))
    );
    let resp: PushedAuthorizationResponse =
        serde_json::from_str(r#"{"request_uri":"urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c","expires_in":60}"#).unwrap();
    assert!(is_par_request_uri(&resp.request_uri));
    let fresh = new_par_request_uri(&[7; 32]).unwrap();
    assert!(is_par_request_uri(&fresh));
    for no in [
        "urn:ietf:params:oauth:request_uri:",
        "urn:ietf:params:oauth:request_uri:short",
        "https://as.example/r/1",
        "urn:ietf:params:oauth:request_uri:aaaaaaaaaaaaaaaaaaaaaa/..",
    ] {
        assert!(!is_par_request_uri(no), "{no}");
    }
    assert_eq!(
        new_par_request_uri(&[1; 8]),
        Err(OidcError::InvalidParameter("request_uri"))
    );
}

#[test]
fn par_never_keeps_client_credentials_with_the_request() {
    // Found by the PAR round-trip proptest: the secret used to sit in `extra`, to be stored with the request.
    let body = "response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid\
                &client_secret=hunter2&x-kept=1";
    let par = PushedAuthorizationRequest::parse(body, None, &Policy::default()).unwrap();
    assert_eq!(par.client.client_id(), Some("c1"));
    assert!(!par.request.extra.contains_key("client_secret"));
    assert_eq!(
        par.request.extra.get("x-kept").map(String::as_str),
        Some("1")
    );
    let body = "response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid\
                &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
                &client_assertion=eyJhbGciOiJFUzI1NiJ9.e30.sig";
    let par = PushedAuthorizationRequest::parse(body, None, &Policy::default()).unwrap();
    assert!(par.request.extra.is_empty());
    assert!(!format!("{:?}", par.request.to_params().to_form()).contains("client_assertion"));
}

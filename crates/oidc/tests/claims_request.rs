//! The `claims` request parameter (OIDC Core §5.5): the spec's example, every reject path, round trips, and how
//! the provider uses it to pick ID token and UserInfo claims.

use portcullis_oidc::{
    AuthorizationRequest, ClaimRequest, ClaimsRequest, MAX_REQUESTED_CLAIMS, OidcError, Params,
    Scope, ScopeClaims,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// OIDC Core §5.5, the non-normative example.
const CORE_5_5_EXAMPLE: &str = r#"{
   "userinfo":
    {
     "given_name": {"essential": true},
     "nickname": null,
     "email": {"essential": true},
     "email_verified": {"essential": true},
     "picture": null,
     "http://example.info/claims/groups": null
    },
   "id_token":
    {
     "auth_time": {"essential": true},
     "acr": {"values": ["urn:mace:incommon:iap:silver"] }
    }
  }"#;

#[test]
fn oidc_core_5_5_example() {
    let r = ClaimsRequest::parse(CORE_5_5_EXAMPLE).unwrap();
    assert_eq!(r.userinfo.len(), 6);
    assert!(r.userinfo["given_name"].essential);
    assert_eq!(r.userinfo["nickname"], ClaimRequest::default());
    assert!(r.userinfo.contains_key("http://example.info/claims/groups"));
    assert!(r.id_token["auth_time"].essential);
    assert_eq!(
        r.acr(),
        Some((vec!["urn:mace:incommon:iap:silver"], false)),
        "acr requested voluntarily"
    );
    assert_eq!(r.required_sub(), Ok(None));
    assert_eq!(ClaimsRequest::parse(&r.to_json()).unwrap(), r);
}

#[test]
fn oidc_core_5_5_1_value_and_sub() {
    let r = ClaimsRequest::parse(
        r#"{"id_token":{"sub":{"value":"248289761001"},"acr":{"essential":true,"values":["urn:a","urn:b"]}}}"#,
    )
    .unwrap();
    assert_eq!(r.required_sub(), Ok(Some("248289761001")));
    assert_eq!(r.acr(), Some((vec!["urn:a", "urn:b"], true)));
    // The same sub in both members is fine; two different ones contradict each other.
    let same = ClaimsRequest::parse(
        r#"{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"a"}}}"#,
    )
    .unwrap();
    assert_eq!(same.required_sub(), Ok(Some("a")));
    let conflicting = ClaimsRequest::parse(
        r#"{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}}"#,
    )
    .unwrap();
    assert_eq!(
        conflicting.required_sub(),
        Err(OidcError::InvalidParameter("claims"))
    );
    // A sub requested by a list of values, or a non-string value, cannot name one End-User.
    for bad in [
        r#"{"id_token":{"sub":{"values":["a","b"]}}}"#,
        r#"{"id_token":{"sub":{"value":7}}}"#,
    ] {
        assert_eq!(
            ClaimsRequest::parse(bad).unwrap().required_sub(),
            Err(OidcError::InvalidParameter("claims")),
            "{bad}"
        );
    }
}

#[test]
fn extension_members_are_kept_and_ignored() {
    let r = ClaimsRequest::parse(
        r#"{"x-top":1,"userinfo":{"email":{"essential":false,"purpose":"to mail you"}}}"#,
    )
    .unwrap();
    assert_eq!(r.extra["x-top"], 1);
    assert_eq!(r.userinfo["email"].extra["purpose"], "to mail you");
    assert!(!r.userinfo["email"].essential);
    assert_eq!(ClaimsRequest::parse(&r.to_json()).unwrap(), r);
}

#[test]
fn rejects_claims_request_that_is_not_an_object() {
    for bad in ["[]", "null", "\"userinfo\"", "1", "", "{", "{}x"] {
        assert_eq!(
            ClaimsRequest::parse(bad),
            Err(OidcError::InvalidParameter("claims")),
            "{bad}"
        );
    }
}

#[test]
fn rejects_members_that_are_not_objects() {
    for bad in [
        r#"{"userinfo":["email"]}"#,
        r#"{"userinfo":"email"}"#,
        r#"{"id_token":null}"#,
        r#"{"id_token":true}"#,
    ] {
        assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn rejects_claim_requests_that_are_not_null_or_objects() {
    for bad in [
        r#"{"userinfo":{"email":true}}"#,
        r#"{"userinfo":{"email":"essential"}}"#,
        r#"{"userinfo":{"email":[]}}"#,
        r#"{"userinfo":{"":null}}"#,
    ] {
        assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn rejects_badly_typed_essential_value_and_values() {
    for bad in [
        r#"{"userinfo":{"email":{"essential":"true"}}}"#,
        r#"{"userinfo":{"email":{"essential":1}}}"#,
        r#"{"userinfo":{"email":{"essential":null}}}"#,
        r#"{"userinfo":{"email":{"value":null}}}"#,
        r#"{"userinfo":{"email":{"values":"a"}}}"#,
        r#"{"userinfo":{"email":{"values":[]}}}"#,
        r#"{"userinfo":{"email":{"value":"a","values":["a"]}}}"#,
    ] {
        assert_eq!(
            ClaimsRequest::parse(bad),
            Err(OidcError::InvalidParameter("claims")),
            "{bad}"
        );
    }
}

#[test]
fn rejects_duplicate_members_at_any_depth() {
    for bad in [
        r#"{"userinfo":{},"userinfo":{}}"#,
        r#"{"userinfo":{"email":null,"email":null}}"#,
        r#"{"userinfo":{"email":{"essential":true,"essential":false}}}"#,
    ] {
        assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn rejects_too_many_requested_claims() {
    let many: Map<String, Value> = (0..=MAX_REQUESTED_CLAIMS)
        .map(|i| (format!("c{i}"), Value::Null))
        .collect();
    let text = json!({ "userinfo": many }).to_string();
    assert_eq!(
        ClaimsRequest::parse(&text),
        Err(OidcError::InvalidParameter("claims"))
    );
    let ok: Map<String, Value> = (0..MAX_REQUESTED_CLAIMS)
        .map(|i| (format!("c{i}"), Value::Null))
        .collect();
    assert!(ClaimsRequest::parse(&json!({ "userinfo": ok }).to_string()).is_ok());
}

#[test]
fn authorization_request_carries_the_typed_claims_request() {
    let q = Params::from_pairs([
        ("response_type", "code".into()),
        ("client_id", "c".into()),
        ("redirect_uri", "https://rp.example/cb".into()),
        ("scope", "openid".into()),
        ("claims", CORE_5_5_EXAMPLE.into()),
    ])
    .to_form();
    let r = AuthorizationRequest::parse(&q).unwrap();
    assert_eq!(
        r.claims.as_ref().unwrap(),
        &ClaimsRequest::parse(CORE_5_5_EXAMPLE).unwrap()
    );
    assert_eq!(
        AuthorizationRequest::parse(&r.to_params().to_form()).unwrap(),
        r
    );
    let bad = q.replace("essential%22%3A+true", "essential%22%3A+%22yes%22");
    assert_ne!(bad, q);
    assert_eq!(
        AuthorizationRequest::parse(&bad).unwrap_err(),
        OidcError::InvalidParameter("claims")
    );
}

fn user() -> Map<String, Value> {
    json!({"name": "Jane Doe", "email": "jane@example.com", "nickname": "JD", "acr": "forged", "sub": "forged",
           "iss": "https://evil.example", "picture": "https://img.example/jd.png"})
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn id_token_gets_requested_claims_and_scope_claims_only_without_access_token() {
    let map = ScopeClaims::standard().with_scope("avatar", &["nickname", "picture"]);
    let scope = Scope::parse("openid email").unwrap();
    let req =
        ClaimsRequest::parse(r#"{"id_token":{"nickname":null,"acr":null,"iss":null}}"#).unwrap();
    // With an access token, scope claims wait for UserInfo; only individually requested ones come along.
    let with_at = map.id_token_claims(&user(), &scope, Some(&req), true);
    assert_eq!(with_at.keys().collect::<Vec<_>>(), vec!["nickname"]);
    // response_type=id_token: the scope's claims go into the ID token (OIDC Core §5.4).
    let without_at = map.id_token_claims(&user(), &scope, Some(&req), false);
    assert_eq!(
        without_at.keys().collect::<Vec<_>>(),
        vec!["email", "nickname"]
    );
    // Provider-set claims never come from the user's record.
    assert!(
        map.id_token_claims(&user(), &scope, Some(&req), false)
            .get("acr")
            .is_none()
    );
    assert!(map.id_token_claims(&user(), &scope, None, true).is_empty());
    // UserInfo requests do not leak into the ID token.
    let ui = ClaimsRequest::parse(r#"{"userinfo":{"picture":null}}"#).unwrap();
    assert!(
        map.id_token_claims(&user(), &scope, Some(&ui), true)
            .is_empty()
    );
    let u = map.userinfo("s", &user(), &scope, Some(&ui));
    assert_eq!(
        u.claims.keys().collect::<Vec<_>>(),
        vec!["email", "picture"]
    );
}

fn claim_request() -> impl Strategy<Value = ClaimRequest> {
    let value = prop_oneof![
        "[ -~]{0,12}".prop_map(Value::String),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
    ];
    (
        any::<bool>(),
        prop_oneof![
            Just((None, None)),
            value.clone().prop_map(|v| (Some(v), None)),
            proptest::collection::vec(value, 1..4).prop_map(|v| (None, Some(v))),
        ],
    )
        .prop_map(|(essential, (value, values))| ClaimRequest {
            essential,
            value,
            values,
            extra: Map::new(),
        })
}

proptest! {
    #[test]
    fn claims_requests_round_trip(
        userinfo in proptest::collection::btree_map("[a-z_:/.]{1,16}", claim_request(), 0..6),
        id_token in proptest::collection::btree_map("[a-z_]{1,16}", claim_request(), 0..6),
    ) {
        let r = ClaimsRequest { userinfo, id_token, extra: Map::new() };
        prop_assert_eq!(ClaimsRequest::parse(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn claims_parser_never_panics(s in "\\PC{0,200}") {
        let _ = ClaimsRequest::parse(&s);
    }
}

//! ID token verification as a careful RP does it, UserInfo, and scope → claims.

use portcullis_jose::{Algorithm, Jwk, JwkSet, jws, jwt};
use portcullis_oidc::{
    ClaimsRequest, IdTokenError, IdTokenExpectations, Scope, ScopeClaims, UserInfo, token_hash,
    verify_id_token,
};
use portcullis_oidc::{IdTokenBuilder, check_token_hash};
use serde_json::{Map, Value, json};

const ISS: &str = "https://server.example.com";
const CLIENT: &str = "s6BhdRkqt3";

fn now() -> u64 {
    jwt::NumericDate::now().as_secs()
}

fn expect() -> IdTokenExpectations<'static> {
    IdTokenExpectations {
        issuer: ISS,
        client_id: CLIENT,
        nonce: Some("n-0S6_WzA2Mj"),
        max_age: None,
        access_token: None,
        access_token_from_front_channel: false,
        code: None,
        leeway: 60,
    }
}

struct Op {
    key: Jwk,
    keys: JwkSet,
}

impl Op {
    fn new() -> Op {
        let key = Jwk::generate(Algorithm::Es256).unwrap();
        let keys = JwkSet::new(vec![key.to_public().unwrap()]);
        Op { key, keys }
    }
    fn id_token(&self, changes: Value) -> String {
        let mut c = json!({"iss": ISS, "sub": "248289761001", "aud": CLIENT, "nonce": "n-0S6_WzA2Mj",
                            "exp": now() + 600, "iat": now(), "auth_time": now() - 30});
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        jwt::encode_value(
            &jws::Header::new(Algorithm::Es256),
            &c,
            &self.key.signing_key().unwrap(),
        )
        .unwrap()
    }
    fn verify(&self, token: &str, e: &IdTokenExpectations<'_>) -> Result<(), IdTokenError> {
        verify_id_token(token, &self.keys, [Algorithm::Es256, Algorithm::Rs256], e).map(|_| ())
    }
}

#[test]
fn code_flow_id_token() {
    let op = Op::new();
    let t = verify_id_token(
        &op.id_token(json!({})),
        &op.keys,
        Algorithm::Es256,
        &expect(),
    )
    .unwrap();
    assert_eq!(t.claims.registered.sub.as_deref(), Some("248289761001"));
}

#[test]
fn id_token_rejects() {
    let op = Op::new();
    let e = expect();
    let jwt_err = |err| Err(IdTokenError::Jwt(err));
    assert_eq!(
        op.verify(&op.id_token(json!({"iss": "https://evil.example"})), &e),
        jwt_err(portcullis_jose::Error::IssuerMismatch)
    );
    assert_eq!(
        op.verify(&op.id_token(json!({"aud": "other"})), &e),
        jwt_err(portcullis_jose::Error::AudienceMismatch)
    );
    assert_eq!(
        op.verify(&op.id_token(json!({"exp": now() - 3600})), &e),
        jwt_err(portcullis_jose::Error::Expired)
    );
    assert_eq!(
        op.verify(&op.id_token(json!({"iat": null})), &e),
        jwt_err(portcullis_jose::Error::MissingClaim("iat"))
    );
    assert_eq!(
        op.verify(&op.id_token(json!({"sub": null})), &e),
        Err(IdTokenError::MissingSubject)
    );
    assert_eq!(
        op.verify(&op.id_token(json!({"nonce": "other"})), &e),
        Err(IdTokenError::NonceMismatch)
    );
    assert_eq!(
        op.verify(&op.id_token(json!({"nonce": null})), &e),
        Err(IdTokenError::NonceMismatch)
    );
    assert_eq!(
        op.verify(&op.id_token(json!({"aud": [CLIENT, "api"]})), &e),
        Err(IdTokenError::AzpMismatch)
    );
    assert_eq!(
        op.verify(
            &op.id_token(json!({"aud": [CLIENT, "api"], "azp": "api"})),
            &e
        ),
        Err(IdTokenError::AzpMismatch)
    );
    op.verify(
        &op.id_token(json!({"aud": [CLIENT, "api"], "azp": CLIENT})),
        &e,
    )
    .unwrap();
    // max_age requires auth_time, recent enough.
    let with_max_age = IdTokenExpectations {
        max_age: Some(60),
        ..expect()
    };
    op.verify(&op.id_token(json!({})), &with_max_age).unwrap();
    assert_eq!(
        op.verify(&op.id_token(json!({"auth_time": null})), &with_max_age),
        Err(IdTokenError::AuthTimeTooOld)
    );
    assert_eq!(
        op.verify(
            &op.id_token(json!({"auth_time": now() - 3600})),
            &with_max_age
        ),
        Err(IdTokenError::AuthTimeTooOld)
    );
    // Another key, or an algorithm outside the allow-list.
    let other = Op::new();
    assert!(matches!(
        op.verify(&other.id_token(json!({})), &e),
        Err(IdTokenError::Jwt(_))
    ));
}

#[test]
fn implicit_and_hybrid_hashes() {
    let op = Op::new();
    let at = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
    let code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk";
    let implicit = IdTokenExpectations {
        access_token: Some(at),
        access_token_from_front_channel: true,
        ..expect()
    };
    op.verify(
        &op.id_token(json!({"at_hash": token_hash(Algorithm::Es256, at)})),
        &implicit,
    )
    .unwrap();
    assert_eq!(
        op.verify(&op.id_token(json!({})), &implicit),
        Err(IdTokenError::AtHashMismatch)
    );
    assert_eq!(
        op.verify(
            &op.id_token(json!({"at_hash": token_hash(Algorithm::Es256, "other")})),
            &implicit
        ),
        Err(IdTokenError::AtHashMismatch)
    );
    // A hash computed for another algorithm's digest does not pass.
    assert_eq!(
        op.verify(
            &op.id_token(json!({"at_hash": token_hash(Algorithm::EdDsa, at)})),
            &implicit
        ),
        Err(IdTokenError::AtHashMismatch)
    );
    // From the token endpoint, at_hash is optional but checked when present.
    let code_flow = IdTokenExpectations {
        access_token: Some(at),
        ..expect()
    };
    op.verify(&op.id_token(json!({})), &code_flow).unwrap();
    assert_eq!(
        op.verify(
            &op.id_token(json!({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"})),
            &code_flow
        ),
        Err(IdTokenError::AtHashMismatch)
    );
    let hybrid = IdTokenExpectations {
        code: Some(code),
        ..expect()
    };
    op.verify(
        &op.id_token(json!({"c_hash": token_hash(Algorithm::Es256, code)})),
        &hybrid,
    )
    .unwrap();
    assert_eq!(
        op.verify(&op.id_token(json!({})), &hybrid),
        Err(IdTokenError::CHashMismatch)
    );
}

#[test]
fn oidc_core_5_3_2_userinfo() {
    let body = r#"{"sub":"248289761001","name":"Jane Doe","given_name":"Jane","family_name":"Doe",
        "preferred_username":"j.doe","email":"janedoe@example.com","picture":"http://example.com/janedoe/me.jpg",
        "address":{"street_address":"1234 Hollywood Blvd.","locality":"Los Angeles","region":"CA","postal_code":"90210","country":"US"}}"#;
    let u: UserInfo = serde_json::from_str(body).unwrap();
    assert!(u.check_subject("248289761001"));
    assert!(!u.check_subject("248289761002"));
    assert_eq!(
        u.address().unwrap().locality.as_deref(),
        Some("Los Angeles")
    );
    assert_eq!(u.claims["name"], "Jane Doe");
}

fn user() -> Map<String, Value> {
    json!({
        "name": "Jane Doe", "nickname": "JD", "picture": "https://img.example/jd.png", "email": "jane@example.com",
        "email_verified": true, "phone_number": "+1 555", "address": {"country": "US"},
        "payment_details": {"iban": "DE89370400440532013000", "holder": "Jane Doe"}, "internal_risk_score": 3
    })
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn scopes_release_only_their_claims_including_custom_scopes() {
    let map = ScopeClaims::standard()
        .with_scope("avatar", &["nickname", "picture"])
        .with_scope("payment_details", &["payment_details"]);
    let u = map.userinfo("s1", &user(), &Scope::parse("openid avatar").unwrap(), None);
    assert_eq!(
        u.claims.keys().collect::<Vec<_>>(),
        vec!["nickname", "picture"]
    );
    let u = map.userinfo(
        "s1",
        &user(),
        &Scope::parse("openid email payment_details").unwrap(),
        None,
    );
    assert_eq!(
        u.claims.keys().collect::<Vec<_>>(),
        vec!["email", "email_verified", "payment_details"]
    );
    assert_eq!(u.claims["payment_details"]["holder"], "Jane Doe");
    let u = map.userinfo("s1", &user(), &Scope::parse("openid").unwrap(), None);
    assert!(u.claims.is_empty());
    // The claims request parameter adds individual claims; never anything the user does not have.
    let req = ClaimsRequest::parse(
        &json!({"userinfo": {"phone_number": null, "ssn": {"essential": true}}}).to_string(),
    )
    .unwrap();
    let u = map.userinfo("s1", &user(), &Scope::parse("openid").unwrap(), Some(&req));
    assert_eq!(u.claims.keys().collect::<Vec<_>>(), vec!["phone_number"]);
    assert!(
        !map.claims_for(&Scope::parse("openid profile email phone address").unwrap())
            .contains("internal_risk_score")
    );
    // openid cannot be turned into a claims-releasing scope.
    let sneaky = ScopeClaims::standard().with_scope("openid", &["internal_risk_score"]);
    assert!(
        sneaky
            .userinfo("s1", &user(), &Scope::parse("openid").unwrap(), None)
            .claims
            .is_empty()
    );
}

#[test]
fn built_id_tokens_carry_hashes_for_their_algorithm() {
    let at = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
    let code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk";
    for alg in [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Rs256,
        Algorithm::EdDsa,
    ] {
        let key = Jwk::generate(alg).unwrap();
        let keys = JwkSet::new(vec![key.to_public().unwrap()]);
        let token = IdTokenBuilder::new(ISS, "248289761001", CLIENT)
            .nonce("n-0S6_WzA2Mj")
            .auth_time(now() - 5)
            .acr("urn:mace:incommon:iap:silver")
            .amr(&["pwd", "mfa"])
            .sid("s-1")
            .access_token(at)
            .code(code)
            .state("af0ifjsldkj")
            .claim("iss", json!("https://evil.example"))
            .claim("email", json!("jane@example.com"))
            .sign(alg, &key.signing_key().unwrap())
            .unwrap();
        let e = IdTokenExpectations {
            access_token: Some(at),
            access_token_from_front_channel: true,
            code: Some(code),
            max_age: Some(60),
            ..expect()
        };
        let t = verify_id_token(&token, &keys, alg, &e).unwrap();
        let c = &t.claims.custom;
        assert!(check_token_hash(
            alg,
            "af0ifjsldkj",
            c["s_hash"].as_str().unwrap()
        ));
        assert_eq!(
            (c["sid"].as_str(), c["acr"].as_str(), c["email"].as_str()),
            (
                Some("s-1"),
                Some("urn:mace:incommon:iap:silver"),
                Some("jane@example.com")
            )
        );
        assert_eq!(c["iss"], ISS, "registered claims cannot be overridden");
        assert_eq!(
            t.claims.registered.exp.unwrap().as_secs() - t.claims.registered.iat.unwrap().as_secs(),
            300
        );
    }
}

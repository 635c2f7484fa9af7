//! JWT claims typing and validation: on by default, every refusal precise.

mod common;

use common::key_for;
use portcullis_jose::jwt::{self, Audience, Claims, NumericDate, RegisteredClaims};
use portcullis_jose::{Algorithm, Error, Jwk, JwkSet, Validation, jws::Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const NOW: u64 = 1_700_000_000;

struct Fixture {
    key: Jwk,
    set: JwkSet,
}

impl Fixture {
    fn new() -> Self {
        let key = key_for(Algorithm::Es256);
        let set = JwkSet::new(vec![key.to_public().unwrap()]);
        Fixture { key, set }
    }

    fn token(&self, claims: Value) -> String {
        jwt::encode_value(
            &Header::new(Algorithm::Es256),
            &claims,
            &self.key.signing_key().unwrap(),
        )
        .unwrap()
    }

    fn check(&self, claims: Value, v: &Validation) -> Result<jwt::Jwt, Error> {
        jwt::decode(&self.token(claims), &self.set, v)
    }
}

fn strict() -> Validation {
    Validation::new(Algorithm::Es256)
        .issuer("https://op.example")
        .audience("rp")
        .at_time(NOW)
}

fn good() -> Value {
    json!({"iss": "https://op.example", "aud": "rp", "sub": "alice", "exp": NOW + 300, "iat": NOW - 10, "nbf": NOW - 10})
}

fn with(changes: Value) -> Value {
    let mut c = good();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[test]
fn accepts_a_valid_token_and_types_its_claims() {
    let f = Fixture::new();
    let jwt = f.check(good(), &strict()).unwrap();
    let r = &jwt.claims.registered;
    assert_eq!(r.iss.as_deref(), Some("https://op.example"));
    assert_eq!(r.aud, Some(Audience::One("rp".into())));
    assert_eq!(r.exp, NumericDate::new(NOW + 300));
    assert_eq!(jwt.claims.custom["sub"], "alice");
}

#[test]
fn time_checks_with_leeway() {
    let f = Fixture::new();
    let v = strict().leeway(60);
    assert_eq!(
        f.check(with(json!({"exp": NOW - 61})), &v).unwrap_err(),
        Error::Expired
    );
    assert_eq!(
        f.check(with(json!({"exp": NOW - 60})), &v).unwrap_err(),
        Error::Expired
    );
    f.check(with(json!({"exp": NOW - 59})), &v).unwrap();
    assert_eq!(
        f.check(with(json!({"nbf": NOW + 61})), &v).unwrap_err(),
        Error::NotYetValid
    );
    f.check(with(json!({"nbf": NOW + 60})), &v).unwrap();
    assert_eq!(
        f.check(with(json!({"iat": NOW + 61})), &v).unwrap_err(),
        Error::IssuedInFuture
    );
    assert_eq!(
        f.check(with(json!({"exp": null})), &v).unwrap_err(),
        Error::MissingClaim("exp")
    );
    f.check(with(json!({"exp": null})), &v.clone().exp_optional())
        .unwrap();
    // Explicitly off: an expired token passes, but a mistyped one never does.
    f.check(with(json!({"exp": 1})), &v.clone().without_time_checks())
        .unwrap();
}

#[test]
fn max_age_needs_iat() {
    let f = Fixture::new();
    let v = strict().leeway(0).max_age(100);
    f.check(with(json!({"iat": NOW - 100})), &v).unwrap();
    assert_eq!(
        f.check(with(json!({"iat": NOW - 101})), &v).unwrap_err(),
        Error::TooOld
    );
    assert_eq!(
        f.check(with(json!({"iat": null})), &v).unwrap_err(),
        Error::MissingClaim("iat")
    );
}

#[test]
fn issuer_and_audience_are_required_and_checked() {
    let f = Fixture::new();
    assert_eq!(
        f.check(with(json!({"iss": "https://evil.example"})), &strict())
            .unwrap_err(),
        Error::IssuerMismatch
    );
    assert_eq!(
        f.check(with(json!({"iss": null})), &strict()).unwrap_err(),
        Error::MissingClaim("iss")
    );
    assert_eq!(
        f.check(with(json!({"aud": "other"})), &strict())
            .unwrap_err(),
        Error::AudienceMismatch
    );
    assert_eq!(
        f.check(with(json!({"aud": ["a", "b"]})), &strict())
            .unwrap_err(),
        Error::AudienceMismatch
    );
    assert_eq!(
        f.check(with(json!({"aud": null})), &strict()).unwrap_err(),
        Error::MissingClaim("aud")
    );
    f.check(with(json!({"aud": ["other", "rp"]})), &strict())
        .unwrap();
    // Several accepted values.
    f.check(with(json!({"aud": "second"})), &strict().audience("second"))
        .unwrap();
    f.check(
        with(json!({"iss": "https://b"})),
        &strict().issuer("https://b"),
    )
    .unwrap();
}

#[test]
fn unconfigured_issuer_or_audience_is_an_error_not_a_pass() {
    let f = Fixture::new();
    let token = f.token(good());
    let no_iss = Validation::new(Algorithm::Es256)
        .audience("rp")
        .at_time(NOW);
    assert_eq!(
        jwt::decode::<Value>(&token, &f.set, &no_iss).unwrap_err(),
        Error::UnconfiguredCheck("iss")
    );
    let no_aud = Validation::new(Algorithm::Es256)
        .issuer("https://op.example")
        .at_time(NOW);
    assert_eq!(
        jwt::decode::<Value>(&token, &f.set, &no_aud).unwrap_err(),
        Error::UnconfiguredCheck("aud")
    );
    // Explicit waivers.
    jwt::decode::<Value>(&token, &f.set, &no_iss.any_issuer()).unwrap();
    jwt::decode::<Value>(&token, &f.set, &no_aud.any_audience()).unwrap();
}

#[test]
fn mistyped_claims_are_errors_never_absent() {
    let f = Fixture::new();
    let v = strict().without_time_checks();
    let cases = [
        (json!({"exp": "9999999999"}), "exp"),
        (json!({"exp": -1}), "exp"),
        (json!({"exp": 1.5}), "exp"),
        (json!({"exp": 1e3}), "exp"),
        (json!({"exp": 253_402_300_800u64}), "exp"),
        (json!({"exp": null}), "exp"),
        (json!({"nbf": "0"}), "nbf"),
        (json!({"iat": true}), "iat"),
        (json!({"auth_time": -5}), "auth_time"),
        (json!({"iss": 1}), "iss"),
        (json!({"sub": ["alice"]}), "sub"),
        (json!({"aud": []}), "aud"),
        (json!({"aud": [1]}), "aud"),
        (json!({"aud": {"rp": true}}), "aud"),
        (json!({"jti": 5}), "jti"),
        (json!({"azp": false}), "azp"),
        (json!({"nonce": 0}), "nonce"),
    ];
    for (claims, name) in cases {
        let mut c = good();
        for (k, val) in claims.as_object().unwrap() {
            c[k] = val.clone();
        }
        assert_eq!(
            f.check(c, &v).unwrap_err(),
            Error::InvalidClaim(name),
            "{claims}"
        );
    }
    // The last representable second is fine.
    f.check(with(json!({"exp": NumericDate::MAX})), &strict())
        .unwrap();
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct IdTokenExtras {
    email: String,
    email_verified: bool,
    #[serde(default)]
    amr: Vec<String>,
}

#[test]
fn custom_claims_round_trip_through_a_serde_type() {
    let f = Fixture::new();
    let claims = Claims {
        registered: RegisteredClaims {
            iss: Some("https://op.example".into()),
            sub: Some("alice".into()),
            aud: Some(Audience::Many(vec!["rp".into(), "api".into()])),
            exp: NumericDate::new(NOW + 60),
            iat: NumericDate::new(NOW),
            nonce: Some("n-0S6_WzA2Mj".into()),
            azp: Some("rp".into()),
            auth_time: NumericDate::new(NOW - 5),
            jti: Some("id-1".into()),
            nbf: None,
        },
        custom: IdTokenExtras {
            email: "alice@example.com".into(),
            email_verified: true,
            amr: vec!["pwd".into()],
        },
    };
    let token = jwt::encode(
        &Header::new(Algorithm::Es256).with_typ("JWT"),
        &claims,
        &f.key.signing_key().unwrap(),
    )
    .unwrap();
    let out: jwt::Jwt<IdTokenExtras> = jwt::decode(&token, &f.set, &strict()).unwrap();
    assert_eq!(out.claims, claims);
    assert_eq!(out.header.typ.as_deref(), Some("JWT"));
    // A claims set that does not fit the caller's type is a precise error.
    let bad = f.token(with(json!({"email": 5, "email_verified": true})));
    assert!(matches!(
        jwt::decode::<IdTokenExtras>(&bad, &f.set, &strict()).unwrap_err(),
        Error::CustomClaims(_)
    ));
}

#[test]
fn encoding_refuses_ambiguous_claims() {
    let f = Fixture::new();
    let claims = Claims {
        registered: RegisteredClaims {
            iss: Some("a".into()),
            ..Default::default()
        },
        custom: json!({"iss": "b"}),
    };
    assert!(matches!(
        jwt::encode(
            &Header::new(Algorithm::Es256),
            &claims,
            &f.key.signing_key().unwrap()
        )
        .unwrap_err(),
        Error::Serialization(_)
    ));
    assert!(matches!(
        jwt::encode_value(
            &Header::new(Algorithm::Es256),
            &json!([1]),
            &f.key.signing_key().unwrap()
        )
        .unwrap_err(),
        Error::Serialization(_)
    ));
}

#[test]
fn numeric_date_bounds() {
    assert_eq!(
        NumericDate::new(NumericDate::MAX).map(NumericDate::as_secs),
        Some(253_402_300_799)
    );
    assert_eq!(NumericDate::new(NumericDate::MAX + 1), None);
    assert!(NumericDate::now().as_secs() > NOW);
}

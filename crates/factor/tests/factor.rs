//! Factor tokens: the accept path and every reject path, single use, and the callback URL rule against
//! open-redirect tricks.

use portcullis_factor::{
    CallbackError, Factor, FactorError, FactorTokenIssuer, FactorTokenValidator,
    InMemoryReplayGuard, RegisteredCallback, ReplayGuard, TOKEN_TYPE,
};
use portcullis_jose::{Algorithm, Error, Jwk, JwkSet, jws, jwt};
use proptest::prelude::*;
use serde_json::json;

const ISS: &str = "https://op.example";
const CLIENT: &str = "shop";
const NOW: u64 = 1_800_000_000;

struct Setup {
    key: Jwk,
    issuer: FactorTokenIssuer,
    validator: FactorTokenValidator<JwkSet>,
}

fn setup() -> Setup {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let issuer = FactorTokenIssuer::new(ISS, key.signing_key().unwrap(), Algorithm::Es256);
    let validator = FactorTokenValidator::new(
        ISS,
        CLIENT,
        JwkSet::new(vec![key.to_public().unwrap()]),
        [Algorithm::Es256],
    )
    .at_time(NOW);
    Setup {
        key,
        issuer,
        validator,
    }
}

fn token(s: &Setup, factors: &[Factor]) -> String {
    s.issuer.issue_at("user-1", CLIENT, factors, NOW).unwrap()
}

#[test]
fn issues_and_validates_with_amr() {
    let s = setup();
    let t = token(&s, &[Factor::MobileApp, Factor::Passkey, Factor::MobileApp]);
    let header = jws::decode_unverified(&t).unwrap().header;
    assert_eq!(header.typ.as_deref(), Some(TOKEN_TYPE));
    let c = s
        .validator
        .validate(
            &t,
            &[Factor::Passkey],
            None,
            &InMemoryReplayGuard::default(),
        )
        .unwrap();
    assert_eq!(
        (c.iss.as_str(), c.sub.as_str(), c.aud.as_str()),
        (ISS, "user-1", CLIENT)
    );
    assert_eq!(c.auth_factor, vec![Factor::MobileApp, Factor::Passkey]);
    assert_eq!(c.amr, vec!["hwk", "otp", "mfa"]);
    assert_eq!((c.iat, c.exp), (NOW, NOW + 300));
    assert_eq!(c.jti.len(), 22);
    let single = token(&s, &[Factor::Sms]);
    let c = s
        .validator
        .validate(&single, &[], None, &InMemoryReplayGuard::default())
        .unwrap();
    assert_eq!(c.amr, vec!["sms"]);
    for f in Factor::ALL {
        assert_eq!(Factor::from_key(f.key()), Some(f));
    }
}

#[test]
fn time_window() {
    let s = setup();
    let t = token(&s, &[Factor::Email]);
    let g = InMemoryReplayGuard::default();
    let at = |now| s.validator.clone().at_time(now).validate(&t, &[], None, &g);
    assert_eq!(at(NOW + 300 + 30), Err(FactorError::Token(Error::Expired)));
    assert_eq!(at(NOW - 31), Err(FactorError::Token(Error::NotYetValid)));
    // A per-operation window narrower than exp: at most 60 s old for a payment.
    let v = s.validator.clone().at_time(NOW + 120).leeway(0);
    assert_eq!(
        v.validate(&t, &[], Some(60), &g),
        Err(FactorError::Token(Error::TooOld))
    );
    v.validate(&t, &[], Some(120), &g).unwrap();
}

#[test]
fn wrong_audience_issuer_key_or_algorithm() {
    let s = setup();
    let g = InMemoryReplayGuard::default();
    let other_client = s
        .issuer
        .issue_at("user-1", "other", &[Factor::Email], NOW)
        .unwrap();
    assert_eq!(
        s.validator.validate(&other_client, &[], None, &g),
        Err(FactorError::Token(Error::AudienceMismatch))
    );
    let other_iss = FactorTokenIssuer::new(
        "https://evil.example",
        s.key.signing_key().unwrap(),
        Algorithm::Es256,
    );
    let t = other_iss
        .issue_at("user-1", CLIENT, &[Factor::Email], NOW)
        .unwrap();
    assert_eq!(
        s.validator.validate(&t, &[], None, &g),
        Err(FactorError::Token(Error::IssuerMismatch))
    );
    let mut attacker = Jwk::generate(Algorithm::Es256).unwrap();
    attacker.set_kid(None);
    let forged = FactorTokenIssuer::new(ISS, attacker.signing_key().unwrap(), Algorithm::Es256)
        .issue_at("user-1", CLIENT, &[Factor::Email], NOW)
        .unwrap();
    assert_eq!(
        s.validator.validate(&forged, &[], None, &g),
        Err(FactorError::Token(Error::InvalidSignature))
    );
    let rsa = Jwk::generate(Algorithm::Rs256).unwrap();
    let t = FactorTokenIssuer::new(ISS, rsa.signing_key().unwrap(), Algorithm::Rs256)
        .issue_at("user-1", CLIENT, &[Factor::Email], NOW)
        .unwrap();
    assert_eq!(
        s.validator.validate(&t, &[], None, &g),
        Err(FactorError::Token(Error::AlgorithmNotAllowed(
            Algorithm::Rs256
        )))
    );
}

#[test]
fn wrong_typ_is_refused() {
    let s = setup();
    let claims = json!({"iss": ISS, "sub": "u", "aud": CLIENT, "iat": NOW, "exp": NOW + 60, "jti": "j1", "auth_factor": ["email"]});
    let g = InMemoryReplayGuard::default();
    for typ in [None, Some("JWT"), Some("at+jwt")] {
        let mut h = jws::Header::new(Algorithm::Es256);
        h.typ = typ.map(str::to_owned);
        let t = jwt::encode_value(&h, &claims, &s.key.signing_key().unwrap()).unwrap();
        assert!(matches!(
            s.validator.validate(&t, &[], None, &g),
            Err(FactorError::Token(Error::TypeMismatch { .. }))
        ));
    }
}

#[test]
fn factor_rules() {
    let s = setup();
    let g = InMemoryReplayGuard::default();
    let t = token(&s, &[Factor::Email]);
    assert_eq!(
        s.validator.validate(&t, &[Factor::Passkey], None, &g),
        Err(FactorError::MissingFactor(Factor::Passkey))
    );
    assert_eq!(
        s.issuer.issue_at("u", CLIENT, &[], NOW),
        Err(FactorError::NoFactors)
    );
    let sign = |claims: serde_json::Value| {
        jwt::encode_value(
            &jws::Header::new(Algorithm::Es256).with_typ(TOKEN_TYPE),
            &claims,
            &s.key.signing_key().unwrap(),
        )
        .unwrap()
    };
    let base =
        json!({"iss": ISS, "sub": "u", "aud": CLIENT, "iat": NOW, "exp": NOW + 60, "jti": "j2"});
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base.clone();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    let mut c = with("auth_factor", json!(["email", "fingerprint"]));
    assert_eq!(
        s.validator.validate(&sign(c), &[], None, &g),
        Err(FactorError::UnknownFactor("fingerprint".into()))
    );
    c = with("auth_factor", json!([]));
    assert_eq!(
        s.validator.validate(&sign(c), &[], None, &g),
        Err(FactorError::NoFactors)
    );
    c = with("auth_factor", json!("email"));
    assert!(matches!(
        s.validator.validate(&sign(c), &[], None, &g),
        Err(FactorError::Token(Error::CustomClaims(_)))
    ));
    let mut c = with("auth_factor", json!(["email"]));
    c["jti"] = serde_json::Value::Null;
    c.as_object_mut().unwrap().remove("jti");
    assert_eq!(
        s.validator.validate(&sign(c), &[], None, &g),
        Err(FactorError::Token(Error::MissingClaim("jti")))
    );
    let mut c = with("auth_factor", json!(["email"]));
    c["exp"] = json!(NOW + 7200);
    assert_eq!(
        s.validator.validate(&sign(c), &[], None, &g),
        Err(FactorError::LifetimeTooLong)
    );
    let mut c = with("auth_factor", json!(["email"]));
    c["aud"] = json!([CLIENT, "other"]);
    assert_eq!(
        s.validator.validate(&sign(c), &[], None, &g),
        Err(FactorError::Token(Error::AudienceMismatch))
    );
}

#[test]
fn single_use() {
    let s = setup();
    let g = InMemoryReplayGuard::default();
    let t = token(&s, &[Factor::MobileApp]);
    s.validator.validate(&t, &[], None, &g).unwrap();
    assert_eq!(
        s.validator.validate(&t, &[], None, &g),
        Err(FactorError::Replayed)
    );
    // A fresh token has a fresh jti.
    s.validator
        .validate(&token(&s, &[Factor::MobileApp]), &[], None, &g)
        .unwrap();
    assert_eq!(g.len(), 2);
    // A full guard fails closed until entries expire.
    let tiny = InMemoryReplayGuard::with_capacity(1);
    assert!(tiny.first_use("a", NOW + 10, NOW));
    assert!(!tiny.first_use("b", NOW + 10, NOW));
    assert!(tiny.first_use("b", NOW + 30, NOW + 20));
}

#[test]
fn callback_accepts_the_registered_url_with_extra_query() {
    let cb = RegisteredCallback::new("https://app.com/Auth/Callback").unwrap();
    for ok in [
        "https://app.com/Auth/Callback",
        "https://app.com/Auth/Callback?r=/Home/Restricted",
        "https://APP.com/Auth/Callback",
        "https://app.com:443/Auth/Callback",
        "https://app.com/Auth/Callback?",
    ] {
        assert!(cb.matches(ok), "{ok}");
    }
    let with_query = RegisteredCallback::new("https://app.com/Auth/Callback?tenant=1").unwrap();
    assert!(with_query.matches("https://app.com/Auth/Callback?tenant=1"));
    assert!(with_query.matches("https://app.com/Auth/Callback?tenant=1&r=/x"));
    assert_eq!(
        with_query.check("https://app.com/Auth/Callback?tenant=10"),
        Err(CallbackError::QueryMismatch)
    );
    assert_eq!(
        with_query.check("https://app.com/Auth/Callback?r=/x&tenant=1"),
        Err(CallbackError::QueryMismatch)
    );
    assert_eq!(
        with_query.check("https://app.com/Auth/Callback"),
        Err(CallbackError::QueryMismatch)
    );
}

#[test]
fn callback_refuses_open_redirect_tricks() {
    use CallbackError::*;
    let cb = RegisteredCallback::new("https://app.com/Auth/Callback").unwrap();
    let cases: &[(&str, CallbackError)] = &[
        ("https://evil.com/Auth/Callback", OriginMismatch),
        ("https://app.com.evil.com/Auth/Callback", OriginMismatch),
        ("https://evilapp.com/Auth/Callback", OriginMismatch),
        ("https://app.com@evil.com/Auth/Callback", UserInfo),
        ("https://user:pw@app.com/Auth/Callback", UserInfo),
        ("http://app.com/Auth/Callback", OriginMismatch),
        ("https://app.com:8443/Auth/Callback", OriginMismatch),
        ("https://app.com/Auth/Callback#frag", Fragment),
        ("https://app.com/Auth/Callback?r=x#", Fragment),
        ("https://app.com/Auth/CallbackX", PathMismatch),
        ("https://app.com/Auth/Callback/", PathMismatch),
        ("https://app.com/auth/callback", PathMismatch),
        ("https://app.com/Auth/%43allback", PathMismatch),
        ("https://app.com/Auth/Callback/../../evil", PathTrick),
        ("https://app.com/Auth/Callback/..%2f..%2fevil", PathTrick),
        ("https://app.com/Auth/Callback%2f..%2fevil", PathTrick),
        ("https://app.com/Auth/%2e%2e/Auth/Callback", PathTrick),
        ("https://app.com/./Auth/Callback", PathTrick),
        ("https://app.com//evil.com/Auth/Callback", PathTrick),
        ("https://app.com/Auth/Callback%5c..%5cevil", PathTrick),
        ("https://app.com/Auth\\Callback", Malformed),
        ("https://app.com\\@evil.com/Auth/Callback", Malformed),
        ("//evil.com/Auth/Callback", Malformed),
        ("/Auth/Callback", Malformed),
        ("javascript:alert(1)//app.com/Auth/Callback", Malformed),
        (" https://app.com/Auth/Callback", Malformed),
        ("https://app.com/Auth/Callback?r=/x\n", Malformed),
        ("https://app.com/Auth/Callback\t", Malformed),
        ("https://app%2ecom/Auth/Callback", Malformed),
        ("https://app.com%2eevil.com/Auth/Callback", Malformed),
        ("", Malformed),
    ];
    for (req, want) in cases {
        assert_eq!(cb.check(req).as_ref(), Err(want), "{req:?}");
    }
    assert_eq!(
        RegisteredCallback::new("https://app.com/cb#x"),
        Err(Fragment)
    );
    assert_eq!(RegisteredCallback::new("not a url"), Err(Malformed));
}

proptest! {
    #[test]
    fn callback_check_never_panics_and_only_accepts_the_registered_path(s in "\\PC{0,120}") {
        let cb = RegisteredCallback::new("https://app.com/Auth/Callback").unwrap();
        if cb.matches(&s) {
            let u = url::Url::parse(&s).unwrap();
            prop_assert_eq!(u.host_str(), Some("app.com"));
            prop_assert_eq!(u.path(), "/Auth/Callback");
        }
    }
}

//! Client authentication at the token endpoint (OpenID Connect Core §9, RFC 7523) and the client
//! credentials grant (RFC 6749 §4.4): `client_secret_basic` and `_post`, `client_secret_jwt` with its
//! sealed secret, `private_key_jwt`, and everything that must fail failing. Certificate-bound clients
//! (RFC 8705) are the `mtls` test binary's.

use crate::common::*;
use portcullis_jose::{Algorithm, Jwk, JwkSet, jwt};
use reqwest::StatusCode;
use serde_json::{Value, json};

every_case!(
    client_credentials_and_client_authentication,
    client_secret_jwt_client,
    private_key_jwt_client,
    assertion_jti_is_kept_through_the_leeway,
    private_key_jwt_registered_alg_is_the_only_one,
    client_assertions_live_up_to_an_hour_and_refusals_say_why
);

/// Client authentication: client_secret_basic, client_credentials, wrong secrets, wrong methods.
async fn client_credentials_and_client_authentication(op: &Op) {
    let (s, t) = token(
        op,
        &[("grant_type", "client_credentials"), ("scope", "api:read")],
        Some(("confidential", "s3cret-s3cret")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t["access_token"].is_string(), "{t}");
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    let (s, e) = token(
        op,
        &[("grant_type", "client_credentials")],
        Some(("confidential", "wrong")),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (s, e) = token(
        op,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "confidential"),
            ("client_secret", "s3cret-s3cret"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "registered for basic, not post"
    );
    let (s, e) = token(
        op,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
        Some(("confidential", "s3cret-s3cret")),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (s, e) = token(
        op,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
        Some(("confidential", "s3cret-s3cret")),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (s, e) = token(
        op,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "public"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (s, e) = token(
        op,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // The public client registered no client_credentials; the pairwise client no refresh_token.
    let (s, e) = token(
        op,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "pairwise-a"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

/// client_secret_jwt (OIDC Core §9, RFC 7523): an HMAC assertion keyed by the client secret, which the
/// provider keeps sealed (never in clear, never as the plain hash used for basic/post). Everything that
/// must fail does: replay, wrong secret, foreign algorithms, wrong audience or issuer, expired, another
/// authentication method with the same secret, an algorithm other than the registered one.
async fn client_secret_jwt_client(op: &Op) {
    use portcullis_jose::HmacKey;
    let store = &op.provider.store;
    let secret = portcullis_op::admin::add_client(
        store,
        "csjwt",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
    )
    .await
    .unwrap()
    .expect("a generated secret");
    assert!(secret.len() >= 64, "long enough for HS512");
    let row = store.client("csjwt").await.unwrap().unwrap();
    assert!(row.secret_hash.is_none());
    let sealed = row.secret_sealed.expect("sealed");
    assert!(!sealed.contains(&secret));

    let meta: Value = op
        .http
        .get(op.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("client_secret_jwt")));
    let algs = meta["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("HS256")) && algs.contains(&json!("ES256")));

    let now = portcullis_op::now();
    let key = HmacKey::new(secret.as_bytes()).unwrap();
    let claims = |iss: &str, aud: String, exp: i64| {
        json!({"iss": iss, "sub": iss, "aud": aud, "exp": exp, "iat": now,
               "jti": portcullis_op::random_token()})
    };
    let assert_with = |alg: Algorithm, k: &HmacKey, c: &Value| {
        jwt::encode_value(&portcullis_jose::jws::Header::new(alg), c, k).unwrap()
    };
    let grant = ("grant_type", "client_credentials");
    let kind = (
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    );
    let send = |assertion: String| async move {
        token(
            op,
            &[grant, kind, ("client_assertion", assertion.as_str())],
            None,
        )
        .await
    };
    let refused = |r: (StatusCode, Value), why: &str| {
        assert_eq!(
            (r.0, r.1["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{why}"
        );
    };

    let good = assert_with(
        Algorithm::Hs256,
        &key,
        &claims("csjwt", op.url("/token"), now + 60),
    );
    let (s, t) = send(good.clone()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t["access_token"].is_string(), "{t}");
    refused(send(good).await, "replayed jti");
    for alg in [Algorithm::Hs384, Algorithm::Hs512] {
        let a = assert_with(alg, &key, &claims("csjwt", op.base.clone(), now + 60));
        let (s, t) = send(a).await;
        assert_eq!(s, StatusCode::OK, "{alg}: {t}");
    }

    let wrong = HmacKey::new(&[7u8; 64]).unwrap();
    refused(
        send(assert_with(
            Algorithm::Hs256,
            &wrong,
            &claims("csjwt", op.url("/token"), now + 60),
        ))
        .await,
        "wrong secret",
    );
    refused(
        send(assert_with(
            Algorithm::Hs256,
            &key,
            &claims("csjwt", "https://other.example/token".into(), now + 60),
        ))
        .await,
        "foreign audience",
    );
    refused(
        send(assert_with(
            Algorithm::Hs256,
            &key,
            &claims("csjwt", op.url("/token"), now - 600),
        ))
        .await,
        "expired",
    );
    refused(
        send(assert_with(
            Algorithm::Hs256,
            &key,
            &claims("confidential", op.url("/token"), now + 60),
        ))
        .await,
        "iss/sub name another client (which is not client_secret_jwt)",
    );
    let es = Jwk::generate(Algorithm::Es256).unwrap();
    refused(
        send(
            jwt::encode_value(
                &portcullis_jose::jws::Header::new(Algorithm::Es256),
                &claims("csjwt", op.url("/token"), now + 60),
                &es.signing_key().unwrap(),
            )
            .unwrap(),
        )
        .await,
        "an asymmetric signature for a client_secret_jwt client",
    );
    let (h, p, _) = {
        let t = assert_with(
            Algorithm::Hs256,
            &key,
            &claims("csjwt", op.url("/token"), now + 60),
        );
        let parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        (parts[0].clone(), parts[1].clone(), ())
    };
    let none_header = portcullis_jose::base64url::encode(br#"{"alg":"none"}"#);
    refused(send(format!("{none_header}.{p}.")).await, "alg none");
    refused(send(format!("{h}.{p}.")).await, "no signature");
    // The same secret through another method.
    refused(
        token(op, &[grant], Some(("csjwt", secret.as_str()))).await,
        "client_secret_basic with a client_secret_jwt secret",
    );
    refused(
        token(
            op,
            &[
                grant,
                ("client_id", "csjwt"),
                ("client_secret", secret.as_str()),
            ],
            None,
        )
        .await,
        "client_secret_post with a client_secret_jwt secret",
    );

    // A registered token_endpoint_auth_signing_alg is the only one accepted.
    portcullis_op::admin::add_client_with_secret(
        store,
        "csjwt256",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                "token_endpoint_auth_signing_alg": "HS256",
                "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    .await
    .unwrap();
    let k2 =
        HmacKey::new(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    refused(
        send(assert_with(
            Algorithm::Hs512,
            &k2,
            &claims("csjwt256", op.url("/token"), now + 60),
        ))
        .await,
        "HS512 when HS256 is registered",
    );
    let (s, t) = send(assert_with(
        Algorithm::Hs256,
        &k2,
        &claims("csjwt256", op.url("/token"), now + 60),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");

    // Registrations that cannot work are refused.
    for (meta, secret) in [
        (
            json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                "token_endpoint_auth_signing_alg": "RS256", "response_types": [],
                "grant_types": ["client_credentials"]}),
            "0123456789abcdef0123456789abcdef",
        ),
        (
            json!({"redirect_uris": [RP], "token_endpoint_auth_method": "client_secret_jwt",
                "response_types": [], "grant_types": ["client_credentials"]}),
            "too short",
        ),
    ] {
        assert!(
            portcullis_op::admin::add_client_with_secret(store, "bad-csjwt", &meta, secret)
                .await
                .is_err(),
            "{meta}"
        );
    }
    assert!(store.client("bad-csjwt").await.unwrap().is_none());
}

/// private_key_jwt: a signed assertion authenticates; a replayed one does not.
async fn private_key_jwt_client(op: &Op) {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let public = JwkSet::new(vec![key.to_public().unwrap()]);
    portcullis_op::admin::add_client(
        &op.provider.store,
        "pkjwt",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt", "jwks": public.to_map(),
                "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
    )
    .await
    .unwrap();
    let now = portcullis_op::now();
    let assertion = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256),
        &json!({"iss": "pkjwt", "sub": "pkjwt", "aud": op.url("/token"), "exp": now + 60, "iat": now, "jti": portcullis_op::random_token()}),
        &key.signing_key().unwrap(),
    )
    .unwrap();
    let body = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let (s, t) = token(op, &body, None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, e) = token(op, &body, None).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "replayed jti"
    );
    let other = Jwk::generate(Algorithm::Es256).unwrap();
    let forged = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256),
        &json!({"iss": "pkjwt", "sub": "pkjwt", "aud": op.url("/token"), "exp": now + 60, "jti": "x"}),
        &other.signing_key().unwrap(),
    )
    .unwrap();
    let (s, _) = token(
        op,
        &[body[0], body[1], ("client_assertion", forged.as_str())],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// An assertion is accepted until `exp` plus the clock-skew leeway, so its `jti` is remembered that long: one whose
/// `exp` has just passed is accepted once, and its replay is refused (before, the `jti` was forgotten at `exp` and
/// the same assertion was redeemed again and again).
async fn assertion_jti_is_kept_through_the_leeway(op: &Op) {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let public = JwkSet::new(vec![key.to_public().unwrap()]);
    portcullis_op::admin::add_client(
        &op.provider.store,
        "pkjwt-skew",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt", "jwks": public.to_map(),
                "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
    )
    .await
    .unwrap();
    let now = portcullis_op::now();
    let assertion = jwt::encode_value(
        &portcullis_jose::jws::Header::new(Algorithm::Es256),
        &json!({"iss": "pkjwt-skew", "sub": "pkjwt-skew", "aud": op.url("/token"), "exp": now - 30,
                "iat": now - 90, "jti": portcullis_op::random_token()}),
        &key.signing_key().unwrap(),
    )
    .unwrap();
    let body = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let (s, t) = token(op, &body, None).await;
    assert_eq!(s, StatusCode::OK, "within the leeway: {t}");
    for _ in 0..3 {
        let (s, e) = token(op, &body, None).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "replayed within the leeway"
        );
    }
}

/// A registered `token_endpoint_auth_signing_alg` binds `private_key_jwt` too: a PS256 client cannot
/// authenticate with an RS256 assertion made with the same key; an HMAC algorithm cannot be registered for it.
async fn private_key_jwt_registered_alg_is_the_only_one(op: &Op) {
    let mut key = Jwk::generate(Algorithm::Ps256).unwrap();
    // The registered public key names no algorithm: only the registration restricts it.
    let mut public = key.to_public().unwrap().to_map();
    public.remove("alg");
    let public = JwkSet::from_json(json!({"keys": [public]}).to_string().as_bytes()).unwrap();
    let store = &op.provider.store;
    portcullis_op::admin::add_client(
        store,
        "pkjwt-ps",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt", "jwks": public.to_map(),
                "token_endpoint_auth_signing_alg": "PS256",
                "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
    )
    .await
    .unwrap();
    let now = portcullis_op::now();
    let sign = |alg: Algorithm, key: &Jwk| {
        jwt::encode_value(
            &portcullis_jose::jws::Header::new(alg),
            &json!({"iss": "pkjwt-ps", "sub": "pkjwt-ps", "aud": op.url("/token"), "exp": now + 60,
                    "iat": now, "jti": portcullis_op::random_token()}),
            &key.signing_key().unwrap(),
        )
        .unwrap()
    };
    let send = |assertion: String| async move {
        token(
            op,
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ],
            None,
        )
        .await
    };
    let (s, t) = send(sign(Algorithm::Ps256, &key)).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    key.set_alg(Algorithm::Rs256).unwrap();
    let (s, e) = send(sign(Algorithm::Rs256, &key)).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "RS256 for a PS256 client"
    );
    let meta = json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt",
                      "jwks": public.to_map(), "token_endpoint_auth_signing_alg": "HS256",
                      "response_types": [], "grant_types": ["client_credentials"]});
    assert!(
        portcullis_op::admin::add_client(store, "pkjwt-hs", &meta)
            .await
            .is_err()
    );
}

/// Assertions with `exp` up to `client_assertion_max_lifetime` (default 3600 s, what Python authlib signs) are
/// accepted; a refused one is `invalid_client` with an `error_description` that says why.
async fn client_assertions_live_up_to_an_hour_and_refusals_say_why(op: &Op) {
    let key = Jwk::generate(Algorithm::Es256).unwrap();
    let public = JwkSet::new(vec![key.to_public().unwrap()]);
    portcullis_op::admin::add_client(
        &op.provider.store,
        "pkjwt-hour",
        &json!({"redirect_uris": [RP], "token_endpoint_auth_method": "private_key_jwt", "jwks": public.to_map(),
                "response_types": [], "grant_types": ["client_credentials"], "scope": "api:read"}),
    )
    .await
    .unwrap();
    let now = portcullis_op::now();
    let send = |claims: serde_json::Value| {
        let key = &key;
        async move {
            let a = jwt::encode_value(
                &portcullis_jose::jws::Header::new(Algorithm::Es256),
                &claims,
                &key.signing_key().unwrap(),
            )
            .unwrap();
            token(
                op,
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ],
                None,
            )
            .await
        }
    };
    let claims = |exp: i64, aud: String| {
        json!({"iss": "pkjwt-hour", "sub": "pkjwt-hour", "aud": aud, "iat": now, "exp": exp,
               "jti": portcullis_op::random_token()})
    };
    let (s, t) = send(claims(now + 3600, op.url("/token"))).await;
    assert_eq!(s, StatusCode::OK, "iat + 3600: {t}");
    for (c, why) in [
        (
            claims(now + 7200, op.url("/token")),
            "further ahead than the provider accepts",
        ),
        (claims(now - 3600, op.url("/token")), "has expired"),
        (
            claims(now + 60, "https://elsewhere.example/token".into()),
            "aud must be the token endpoint",
        ),
    ] {
        let (s, e) = send(c).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{e}"
        );
        let d = e["error_description"].as_str().unwrap();
        assert!(d.contains(why), "{d}");
        assert!(!d.contains('?'), "{d}");
    }
}

//! Round trips for every message that has both a printer and a parser (the client side writes what the
//! provider side reads, and back), plus the client-side authorization response parser's reject paths.

use portcullis_oidc::{
    AuthorizationRequest, AuthorizationResponse, ClientAuthentication, ClientMetadata, ErrorCode,
    Grant, OidcError, Params, ProviderMetadata, PushedAuthorizationRequest, ResponseType, Scope,
    TokenRequest, TokenResponse, UserInfo,
};
use portcullis_pkce::Policy;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const ISS: &str = "https://op.example";

fn text() -> impl Strategy<Value = String> {
    "[ -~]{1,24}"
}

fn client_auth() -> impl Strategy<Value = ClientAuthentication> {
    let id = "[A-Za-z0-9:%+ ._-]{1,16}";
    prop_oneof![
        id.prop_map(|client_id| ClientAuthentication::None { client_id }),
        (id, "[ -~]{0,24}").prop_map(|(client_id, secret)| ClientAuthentication::SecretBasic {
            client_id,
            secret
        }),
        (id, text())
            .prop_map(|(client_id, secret)| ClientAuthentication::SecretPost { client_id, secret }),
        (proptest::option::of(id), "[A-Za-z0-9._-]{10,40}").prop_map(|(client_id, assertion)| {
            ClientAuthentication::JwtAssertion {
                client_id,
                assertion,
            }
        }),
    ]
}

fn scope() -> impl Strategy<Value = Option<Scope>> {
    proptest::option::of(
        proptest::collection::vec("[a-z_]{1,8}", 1..4)
            .prop_map(|v| Scope::parse(&v.join(" ")).unwrap()),
    )
}

fn grant() -> impl Strategy<Value = Grant> {
    prop_oneof![
        (
            text(),
            proptest::option::of("https://[a-z]{1,8}\\.example/[a-z]{0,5}"),
            proptest::option::of("[A-Za-z0-9._~-]{43,128}")
        )
            .prop_map(
                |(code, redirect_uri, code_verifier)| Grant::AuthorizationCode {
                    code,
                    redirect_uri,
                    code_verifier
                }
            ),
        (text(), scope()).prop_map(|(refresh_token, scope)| Grant::RefreshToken {
            refresh_token,
            scope
        }),
        scope().prop_map(|scope| Grant::ClientCredentials { scope }),
    ]
}

fn auth_response() -> impl Strategy<Value = AuthorizationResponse> {
    let success = (
        proptest::option::of(text()),
        proptest::option::of("[A-Za-z0-9._-]{10,40}"),
        proptest::option::of((text(), proptest::option::of(0u64..1_000_000))),
        proptest::option::of(text()),
    )
        .prop_filter("something is returned", |(c, i, a, _)| {
            c.is_some() || i.is_some() || a.is_some()
        })
        .prop_map(
            |(code, id_token, at, state)| AuthorizationResponse::Success {
                code,
                id_token,
                access_token: at.as_ref().map(|(t, _)| t.clone()),
                expires_in: at.and_then(|(_, e)| e),
                state,
                iss: ISS.into(),
            },
        );
    let error = (
        0usize..ErrorCode::ALL.len(),
        proptest::option::of("[a-zA-Z0-9 .,]{1,30}"),
        proptest::option::of(text()),
    )
        .prop_map(|(i, description, state)| AuthorizationResponse::Error {
            error: ErrorCode::ALL[i],
            description,
            state,
            iss: ISS.into(),
        });
    prop_oneof![success, error]
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::btree_map("[a-z_]{1,8}", text(), 0..3).prop_map(|m| json!(m)),
    ]
}

proptest! {
    #[test]
    fn token_requests_round_trip(grant in grant(), client in client_auth()) {
        let req = TokenRequest { grant, client };
        let (body, header) = req.to_wire();
        prop_assert_eq!(TokenRequest::parse(&body, header.as_deref()).unwrap(), req);
    }

    #[test]
    fn authorization_responses_round_trip(resp in auth_response()) {
        let p = resp.to_params();
        prop_assert_eq!(AuthorizationResponse::from_params(&p, ISS, true).unwrap(), resp.clone());
        let again = Params::parse(&p.to_form()).unwrap();
        prop_assert_eq!(AuthorizationResponse::from_params(&again, ISS, true).unwrap(), resp);
    }

    #[test]
    fn pushed_authorization_requests_round_trip(client in client_auth(), state in proptest::option::of(text())) {
        prop_assume!(client.client_id().is_some());
        let id = client.client_id().unwrap().to_owned();
        let request = AuthorizationRequest::parse(&Params::from_pairs([
            ("response_type", "code".into()),
            ("client_id", id.as_str().into()),
            ("redirect_uri", "https://rp.example/cb".into()),
            ("scope", "openid".into()),
        ]).to_form()).unwrap();
        let mut request = request;
        request.state = state;
        let mut params: Vec<(String, String)> = request.to_params().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let (auth, header) = client.to_wire();
        for (k, v) in auth {
            if k != "client_id" {
                params.push((k.to_owned(), v));
            }
        }
        let body = Params::from_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str().into()))).to_form();
        let par = PushedAuthorizationRequest::parse(&body, header.as_deref(), &Policy::default()).unwrap();
        prop_assert_eq!(par.request, request);
    }

    #[test]
    fn token_responses_round_trip(
        access_token in text(), expires_in in proptest::option::of(0u64..1_000_000),
        refresh_token in proptest::option::of(text()), scope in proptest::option::of("[a-z ]{1,20}"),
        id_token in proptest::option::of("[A-Za-z0-9._-]{10,40}"),
        extra in proptest::collection::btree_map("x_[a-z]{1,6}", json_value(), 0..3),
    ) {
        let r = TokenResponse { access_token, token_type: "Bearer".into(), expires_in, refresh_token, scope, id_token,
                                extra: extra.into_iter().collect() };
        let back: TokenResponse = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn userinfo_round_trips(sub in text(), claims in proptest::collection::btree_map("[a-z_]{1,10}", json_value(), 0..6)) {
        let claims: Map<String, Value> = claims.into_iter().filter(|(k, _)| k != "sub").collect();
        let u = UserInfo { sub, claims };
        let back: UserInfo = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        prop_assert_eq!(back, u);
    }

    #[test]
    fn client_metadata_round_trips(
        redirects in proptest::collection::vec("https://[a-z]{1,8}\\.example/[a-z]{0,6}", 1..4),
        method in 0usize..4, pairwise in any::<bool>(), alg in 0usize..4,
    ) {
        let methods = ["none", "client_secret_basic", "client_secret_post", "client_secret_jwt"];
        let algs = ["ES256", "RS256", "PS256", "EdDSA"];
        let doc = json!({"redirect_uris": redirects, "token_endpoint_auth_method": methods[method],
                         "subject_type": if pairwise {"pairwise"} else {"public"},
                         "id_token_signed_response_alg": algs[alg], "client_name": "x"});
        let m = ClientMetadata::from_json(doc.to_string().as_bytes()).unwrap();
        let back = ClientMetadata::from_json(serde_json::to_string(&m).unwrap().as_bytes()).unwrap();
        prop_assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&m).unwrap());
    }

    #[test]
    fn provider_metadata_round_trips(host in "[a-z]{1,10}", port in proptest::option::of(1u16..), path in "(/[a-z]{1,6}){0,2}",
                                     iss_param in any::<bool>(), par in any::<bool>()) {
        let issuer = match port { Some(p) => format!("https://{host}.example:{p}{path}"), None => format!("https://{host}.example{path}") };
        let mut doc = json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code", "code id_token"], "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"], "scopes_supported": ["openid", "avatar"],
            "authorization_response_iss_parameter_supported": iss_param});
        if par {
            doc["pushed_authorization_request_endpoint"] = json!(format!("{issuer}/par"));
        }
        let m = ProviderMetadata::parse_for(&issuer, doc.to_string().as_bytes()).unwrap();
        let back = ProviderMetadata::parse_for(&issuer, m.to_json().as_bytes()).unwrap();
        prop_assert_eq!(back.to_json(), m.to_json());
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| (*k, (*v).into())))
}

#[test]
fn rfc6749_4_1_2_response_parses() {
    let p = Params::parse("code=SplxlOBeZQQYbYS6WxSbIA&state=xyz").unwrap();
    let r = AuthorizationResponse::from_params(&p, ISS, false).unwrap();
    assert!(
        matches!(r, AuthorizationResponse::Success { code: Some(ref c), state: Some(ref s), .. }
        if c == "SplxlOBeZQQYbYS6WxSbIA" && s == "xyz")
    );
    let e = Params::parse("error=access_denied&state=xyz").unwrap();
    assert!(matches!(
        AuthorizationResponse::from_params(&e, ISS, false).unwrap(),
        AuthorizationResponse::Error {
            error: ErrorCode::AccessDenied,
            ..
        }
    ));
}

#[test]
fn rejects_response_from_another_issuer_rfc9207_mix_up() {
    let p = params(&[("code", "c"), ("iss", "https://attacker.example")]);
    assert_eq!(
        AuthorizationResponse::from_params(&p, ISS, false),
        Err(OidcError::InvalidParameter("iss"))
    );
    let p = params(&[("code", "c"), ("iss", "https://op.example/")]);
    assert_eq!(
        AuthorizationResponse::from_params(&p, ISS, false),
        Err(OidcError::InvalidParameter("iss"))
    );
}

#[test]
fn rejects_response_without_iss_when_provider_advertises_it() {
    let p = params(&[("code", "c")]);
    assert_eq!(
        AuthorizationResponse::from_params(&p, ISS, true),
        Err(OidcError::MissingParameter("iss"))
    );
    assert!(AuthorizationResponse::from_params(&p, ISS, false).is_ok());
}

#[test]
fn rejects_empty_or_malformed_success_responses() {
    for (pairs, err) in [
        (vec![("state", "s")], OidcError::MissingParameter("code")),
        (
            vec![("access_token", "t")],
            OidcError::InvalidParameter("token_type"),
        ),
        (
            vec![("access_token", "t"), ("token_type", "DPoP")],
            OidcError::InvalidParameter("token_type"),
        ),
        (
            vec![
                ("access_token", "t"),
                ("token_type", "Bearer"),
                ("expires_in", "-1"),
            ],
            OidcError::InvalidParameter("expires_in"),
        ),
        (
            vec![
                ("access_token", "t"),
                ("token_type", "Bearer"),
                ("expires_in", "99999999999999999999999"),
            ],
            OidcError::InvalidParameter("expires_in"),
        ),
        (
            vec![("error", "not_a_code")],
            OidcError::InvalidParameter("error"),
        ),
    ] {
        assert_eq!(
            AuthorizationResponse::from_params(&params(&pairs), ISS, false),
            Err(err),
            "{pairs:?}"
        );
    }
}

#[test]
fn basic_credentials_are_form_encoded_on_the_wire() {
    let req = TokenRequest {
        grant: Grant::ClientCredentials { scope: None },
        client: ClientAuthentication::SecretBasic {
            client_id: "a:b c".into(),
            secret: "p@ss:wörd%".into(),
        },
    };
    let (body, header) = req.to_wire();
    assert_eq!(body, "grant_type=client_credentials");
    let header = header.unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "a%3Ab+c:p%40ss%3Aw%C3%B6rd%25"
    );
    assert_eq!(TokenRequest::parse(&body, Some(&header)).unwrap(), req);
    let _ = ResponseType::CODE;
}

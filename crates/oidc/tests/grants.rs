//! The provider-side grant checks and the OAuth error codes they answer with: `invalid_grant`,
//! `unauthorized_client`, `invalid_scope`.

use portcullis_oidc::{ClientPermissions, GrantType, IssuedCode, OidcError, ResponseType, Scope};
use portcullis_pkce::{CodeChallenge, CodeVerifier, Policy};

fn issued() -> (IssuedCode, CodeVerifier) {
    let v = CodeVerifier::generate();
    (
        IssuedCode {
            client_id: "c1".into(),
            redirect_uri: Some("https://rp.example/cb".into()),
            code_challenge: Some(CodeChallenge::s256(&v)),
            expires_at: 1_000,
        },
        v,
    )
}

#[test]
fn code_redeems_with_matching_client_redirect_and_verifier() {
    let (c, v) = issued();
    assert_eq!(
        c.check_redemption(
            "c1",
            Some("https://rp.example/cb"),
            Some(v.as_str()),
            &Policy::default(),
            999
        ),
        Ok(())
    );
}

#[test]
fn rejects_code_for_another_client() {
    let (c, v) = issued();
    let e = c
        .check_redemption(
            "c2",
            Some("https://rp.example/cb"),
            Some(v.as_str()),
            &Policy::default(),
            0,
        )
        .unwrap_err();
    assert_eq!(
        e,
        OidcError::InvalidGrant("code was issued to another client")
    );
    assert_eq!(e.code().as_str(), "invalid_grant");
    assert_eq!(e.code().token_endpoint_status(), 400);
}

#[test]
fn rejects_expired_code() {
    let (c, v) = issued();
    for now in [1_000, 1_001, u64::MAX] {
        assert_eq!(
            c.check_redemption(
                "c1",
                Some("https://rp.example/cb"),
                Some(v.as_str()),
                &Policy::default(),
                now
            ),
            Err(OidcError::InvalidGrant("code expired"))
        );
    }
}

#[test]
fn rejects_redirect_uri_mismatch() {
    let (c, v) = issued();
    for r in [
        None,
        Some("https://rp.example/cb/"),
        Some("https://rp.example/CB"),
        Some(""),
    ] {
        assert_eq!(
            c.check_redemption("c1", r, Some(v.as_str()), &Policy::default(), 0),
            Err(OidcError::InvalidGrant("redirect_uri mismatch")),
            "{r:?}"
        );
    }
    let mut none = c.clone();
    none.redirect_uri = None;
    assert_eq!(
        none.check_redemption(
            "c1",
            Some("https://rp.example/cb"),
            Some(v.as_str()),
            &Policy::default(),
            0
        ),
        Err(OidcError::InvalidGrant("redirect_uri mismatch"))
    );
    assert_eq!(
        none.check_redemption("c1", None, Some(v.as_str()), &Policy::default(), 0),
        Ok(())
    );
}

#[test]
fn rejects_pkce_failures_as_invalid_grant() {
    let (c, _) = issued();
    let other = CodeVerifier::generate();
    for v in [None, Some(other.as_str()), Some("short"), Some("")] {
        assert_eq!(
            c.check_redemption(
                "c1",
                Some("https://rp.example/cb"),
                v,
                &Policy::default(),
                0
            ),
            Err(OidcError::InvalidGrant("PKCE verification failed")),
            "{v:?}"
        );
    }
    // A verifier for a code issued without a challenge is refused too (code injection).
    let mut plain = c.clone();
    plain.code_challenge = None;
    assert_eq!(
        plain.check_redemption(
            "c1",
            Some("https://rp.example/cb"),
            Some(other.as_str()),
            &Policy::default(),
            0
        ),
        Err(OidcError::InvalidGrant("PKCE verification failed"))
    );
}

fn perms() -> ClientPermissions {
    ClientPermissions {
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        implicit: false,
        response_types: vec![ResponseType::CODE],
        scopes: Scope::parse("openid profile email avatar").unwrap(),
    }
}

#[test]
fn rejects_unregistered_grant_type_as_unauthorized_client() {
    let p = perms();
    assert_eq!(p.check_grant(GrantType::AuthorizationCode), Ok(()));
    let e = p.check_grant(GrantType::ClientCredentials).unwrap_err();
    assert_eq!(e.code().as_str(), "unauthorized_client");
}

#[test]
fn rejects_unregistered_response_type_as_unauthorized_client() {
    let p = perms();
    assert_eq!(p.check_response_type(ResponseType::CODE), Ok(()));
    for rt in [
        ResponseType::ID_TOKEN,
        ResponseType::CODE_ID_TOKEN,
        ResponseType::CODE_ID_TOKEN_TOKEN,
    ] {
        assert_eq!(
            p.check_response_type(rt).unwrap_err().code().as_str(),
            "unauthorized_client"
        );
    }
}

#[test]
fn rejects_scope_the_client_may_not_have_as_invalid_scope() {
    let p = perms();
    let default = Scope::parse("openid").unwrap();
    assert_eq!(
        p.grant_scope(
            Some(&Scope::parse("openid email avatar").unwrap()),
            &default
        ),
        Ok(Scope::parse("openid email avatar").unwrap())
    );
    assert_eq!(p.grant_scope(None, &default), Ok(default.clone()));
    let e = p
        .grant_scope(
            Some(&Scope::parse("openid payment_details").unwrap()),
            &default,
        )
        .unwrap_err();
    assert_eq!(e, OidcError::InvalidScope);
    assert_eq!(e.code().as_str(), "invalid_scope");
}

#[test]
fn refresh_scope_may_only_narrow() {
    let granted = Scope::parse("openid email profile").unwrap();
    assert_eq!(granted.narrow(None), Ok(granted.clone()));
    assert_eq!(
        granted.narrow(Some(&Scope::parse("email").unwrap())),
        Ok(Scope::parse("email").unwrap())
    );
    assert_eq!(
        granted.narrow(Some(&Scope::parse("openid phone").unwrap())),
        Err(OidcError::InvalidScope)
    );
}

//! Configuration: defaults work, TOML with unknown keys is refused, and every range / consistency rule rejects.

use portcullis_op::Config;
use portcullis_op::config::TlsConfig;

#[test]
fn defaults_and_a_full_file_pass() {
    Config::default().check().unwrap();
    let c = Config::from_toml(
        r#"issuer = "https://login.example.com"
           listen = "0.0.0.0:8443"
           code_lifetime = 30
           [tls]
           cert = "s.pem"
           key = "s.key"
           [scopes]
           loyalty = ["loyalty_tier"]"#,
    )
    .unwrap();
    c.check().unwrap();
    assert!(
        c.scope_claims()
            .claims_for(&portcullis_oidc::Scope::parse("loyalty").unwrap())
            .contains("loyalty_tier")
    );
}

#[test]
fn rejects_unknown_keys_and_bad_toml() {
    assert!(Config::from_toml("issuer_url = \"https://x\"").is_err());
    assert!(Config::from_toml("[tls]\ncert = \"a\"\nkey = \"b\"\npassword = \"c\"").is_err());
    assert!(Config::from_toml("code_lifetime = \"60\"").is_err());
    assert!(Config::from_toml("issuer = ").is_err());
}

type Change = Box<dyn Fn(&mut Config)>;

#[test]
fn rejects_each_bad_value() {
    let bad: Vec<(&str, Change)> = vec![
        (
            "http issuer off loopback",
            Box::new(|c| c.issuer = "http://login.example.com".into()),
        ),
        (
            "loopback look-alike",
            Box::new(|c| c.issuer = "http://127.0.0.1.evil.example".into()),
        ),
        (
            "trailing slash",
            Box::new(|c| c.issuer = "https://login.example.com/".into()),
        ),
        (
            "query",
            Box::new(|c| c.issuer = "https://login.example.com?a=b".into()),
        ),
        (
            "not a URL",
            Box::new(|c| c.issuer = "login.example.com".into()),
        ),
        ("listen", Box::new(|c| c.listen = "localhost".into())),
        (
            "passkeys on an IP issuer",
            Box::new(|c| {
                c.issuer = "http://127.0.0.1:8080".into();
                c.passkeys = true;
            }),
        ),
        ("code lifetime 0", Box::new(|c| c.code_lifetime = 0)),
        ("code lifetime 61", Box::new(|c| c.code_lifetime = 61)),
        (
            "zero access token lifetime",
            Box::new(|c| c.access_token_lifetime = 0),
        ),
        (
            "retired keys shorter than ID tokens",
            Box::new(|c| c.retired_key_lifetime = c.id_token_lifetime - 1),
        ),
        (
            "tiny request limit",
            Box::new(|c| c.max_request_bytes = 100),
        ),
        (
            "standard scope redefined",
            Box::new(|c| {
                c.scopes.insert("email".into(), vec!["x".into()]);
            }),
        ),
        (
            "scope with a space",
            Box::new(|c| {
                c.scopes.insert("two words".into(), vec![]);
            }),
        ),
        (
            "database url",
            Box::new(|c| c.database_url = Some("mysql://x".into())),
        ),
        (
            "tls with an http issuer",
            Box::new(|c| {
                c.tls = Some(TlsConfig {
                    cert: "a".into(),
                    key: "b".into(),
                    client_ca: None,
                });
            }),
        ),
    ];
    for (name, f) in bad {
        let mut c = Config::default();
        f(&mut c);
        assert!(c.check().is_err(), "{name} was accepted");
    }
}

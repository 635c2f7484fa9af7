//! RFC 8705 hooks: matching a presented certificate to a `tls_client_auth` registration (subject DN or one
//! SAN), to a `self_signed_tls_client_auth` client's JWK Set, and certificate-bound token checks.

use portcullis_jose::{Jwk, JwkSet};
use portcullis_oidc::{
    ClientCertificate, ClientMetadata, DistinguishedName, MAX_CERTIFICATE_LEN, MtlsError,
    OidcError, TlsClientAuthRule, certificate_thumbprint_s256, check_certificate_binding,
    check_self_signed,
};
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use serde_json::json;

struct Made {
    der: Vec<u8>,
    key: KeyPair,
}

fn cert(alg: &'static rcgen::SignatureAlgorithm, f: impl FnOnce(&mut CertificateParams)) -> Made {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    f(&mut p);
    let c = p.self_signed(&key).unwrap();
    Made {
        der: c.der().to_vec(),
        key,
    }
}

fn client_cert() -> Made {
    cert(&rcgen::PKCS_ECDSA_P256_SHA256, |p| {
        p.distinguished_name.push(DnType::CountryName, "DE");
        p.distinguished_name
            .push(DnType::OrganizationName, "Example, Inc.");
        p.distinguished_name
            .push(DnType::CommonName, "payments  client");
        p.subject_alt_names = vec![
            SanType::DnsName("Client.Example.com".try_into().unwrap()),
            SanType::URI("https://client.example.com/id".try_into().unwrap()),
            SanType::IpAddress("192.0.2.7".parse().unwrap()),
            SanType::IpAddress("2001:db8::7".parse().unwrap()),
            SanType::Rfc822Name("ops@client.example.com".try_into().unwrap()),
        ];
    })
}

fn meta(extra: serde_json::Value) -> ClientMetadata {
    let mut m = json!({"redirect_uris": ["https://client.example.com/cb"],
                       "token_endpoint_auth_method": "tls_client_auth"});
    m.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ClientMetadata::from_json(m.to_string().as_bytes()).unwrap()
}

#[test]
fn subject_dn_matches_under_rfc4514_rules() {
    let c = ClientCertificate::from_der(&client_cert().der).unwrap();
    // Case, spacing and escaping differ; the name is the same (RFC 4514 order: last RDN first).
    for dn in [
        r"CN=payments client,O=Example\, Inc.,C=DE",
        r"cn=PAYMENTS CLIENT, o=example\2c inc., c=de",
        r"2.5.4.3=payments client,2.5.4.10=Example\, Inc.,2.5.4.6=DE",
    ] {
        let rule =
            TlsClientAuthRule::from_metadata(&meta(json!({"tls_client_auth_subject_dn": dn})))
                .unwrap();
        assert_eq!(rule.check(&c), Ok(()), "{dn}");
    }
}

#[test]
fn rejects_subject_dn_that_differs() {
    let c = ClientCertificate::from_der(&client_cert().der).unwrap();
    for dn in [
        r"CN=payments client,O=Example\, Inc.,C=FR",
        r"CN=payments client,O=Example\, Inc.",
        r"C=DE,O=Example\, Inc.,CN=payments client",
        r"CN=payments client,O=Example\, Inc.,C=DE,DC=extra",
        r"CN=payments client+UID=1,O=Example\, Inc.,C=DE",
        "CN=other,O=Example,C=DE",
    ] {
        let rule =
            TlsClientAuthRule::from_metadata(&meta(json!({"tls_client_auth_subject_dn": dn})))
                .unwrap();
        assert_eq!(rule.check(&c), Err(MtlsError::Mismatch), "{dn}");
    }
}

#[test]
fn rejects_malformed_registered_subject_dn() {
    for dn in [
        "",
        "CN",
        "XX=a",
        "CN=#0403616263",
        r"CN=a\",
        r"CN=a\zz",
        r"CN=\ff",
    ] {
        assert_eq!(
            DistinguishedName::parse_rfc4514(dn).err(),
            Some(OidcError::InvalidParameter("tls_client_auth_subject_dn")),
            "{dn:?}"
        );
    }
}

#[test]
fn each_san_kind_matches_only_its_value() {
    let c = ClientCertificate::from_der(&client_cert().der).unwrap();
    let ok = [
        json!({"tls_client_auth_san_dns": "client.example.com"}),
        json!({"tls_client_auth_san_uri": "https://client.example.com/id"}),
        json!({"tls_client_auth_san_ip": "192.0.2.7"}),
        json!({"tls_client_auth_san_ip": "2001:db8:0::7"}),
        json!({"tls_client_auth_san_email": "ops@client.example.com"}),
    ];
    for m in ok {
        let rule = TlsClientAuthRule::from_metadata(&meta(m.clone())).unwrap();
        assert_eq!(rule.check(&c), Ok(()), "{m}");
    }
    let wrong = [
        json!({"tls_client_auth_san_dns": "evil.example.com"}),
        json!({"tls_client_auth_san_dns": "example.com"}),
        json!({"tls_client_auth_san_uri": "https://client.example.com/id/"}),
        json!({"tls_client_auth_san_ip": "192.0.2.8"}),
        json!({"tls_client_auth_san_email": "OPS@client.example.com"}),
        // The subject CN is not a SAN.
        json!({"tls_client_auth_san_dns": "payments client"}),
    ];
    for m in wrong {
        let rule = TlsClientAuthRule::from_metadata(&meta(m.clone())).unwrap();
        assert_eq!(rule.check(&c), Err(MtlsError::Mismatch), "{m}");
    }
}

#[test]
fn registration_needs_exactly_one_tls_client_auth_member() {
    let base = json!({"redirect_uris": ["https://c.example/cb"], "token_endpoint_auth_method": "tls_client_auth"});
    assert_eq!(
        ClientMetadata::from_json(base.to_string().as_bytes()).unwrap_err(),
        OidcError::MissingParameter("tls_client_auth_subject_dn")
    );
    let mut two = base.clone();
    two["tls_client_auth_subject_dn"] = json!("CN=a");
    two["tls_client_auth_san_dns"] = json!("a.example");
    assert_eq!(
        ClientMetadata::from_json(two.to_string().as_bytes()).unwrap_err(),
        OidcError::InvalidParameter("tls_client_auth_subject_dn")
    );
    let mut bad_ip = base.clone();
    bad_ip["tls_client_auth_san_ip"] = json!("192.0.2");
    assert_eq!(
        ClientMetadata::from_json(bad_ip.to_string().as_bytes()).unwrap_err(),
        OidcError::InvalidParameter("tls_client_auth_san_ip")
    );
    let mut bad_dn = base.clone();
    bad_dn["tls_client_auth_subject_dn"] = json!("no equals sign");
    assert!(ClientMetadata::from_json(bad_dn.to_string().as_bytes()).is_err());
    // The members belong to tls_client_auth only.
    let other =
        json!({"redirect_uris": ["https://c.example/cb"], "tls_client_auth_san_dns": "a.example"});
    assert_eq!(
        ClientMetadata::from_json(other.to_string().as_bytes()).unwrap_err(),
        OidcError::InvalidParameter("tls_client_auth_subject_dn")
    );
    // self_signed_tls_client_auth needs registered keys.
    let ss = json!({"redirect_uris": ["https://c.example/cb"], "token_endpoint_auth_method": "self_signed_tls_client_auth"});
    assert_eq!(
        ClientMetadata::from_json(ss.to_string().as_bytes()).unwrap_err(),
        OidcError::MissingParameter("jwks")
    );
}

fn registered(key: &KeyPair) -> Jwk {
    Jwk::from_pkcs8_der(&key.serialize_der()).unwrap()
}

#[test]
fn self_signed_certificate_matches_its_registered_key_for_each_key_type() {
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        let m = cert(alg, |p| p.distinguished_name.push(DnType::CommonName, "ss"));
        let c = ClientCertificate::from_der(&m.der).unwrap();
        let mut own = registered(&m.key).to_public().unwrap();
        own.set_kid(Some("whatever".into()));
        let other = Jwk::generate(portcullis_jose::Algorithm::Es256).unwrap();
        let set = JwkSet::new(vec![other.to_public().unwrap(), own]);
        assert_eq!(check_self_signed(&c, &set), Ok(()));
        let stranger = JwkSet::new(vec![other.to_public().unwrap()]);
        assert_eq!(check_self_signed(&c, &stranger), Err(MtlsError::Mismatch));
        assert_eq!(
            check_self_signed(&c, &JwkSet::new(vec![])),
            Err(MtlsError::Mismatch)
        );
    }
}

#[test]
fn self_signed_rsa_certificate_matches_its_registered_key() {
    let jwk = Jwk::generate_with(
        portcullis_jose::Algorithm::Rs256,
        portcullis_jose::Backend::default(),
    );
    let Ok(jwk) = jwk else {
        return; // backend without RSA generation; EC and Ed25519 cover the path
    };
    let der = jwk.to_pkcs8_der().unwrap();
    let key = KeyPair::try_from(der.as_slice()).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "rsa");
    let c = p.self_signed(&key).unwrap();
    let c = ClientCertificate::from_der(c.der()).unwrap();
    assert_eq!(
        check_self_signed(&c, &JwkSet::new(vec![jwk.to_public().unwrap()])),
        Ok(())
    );
}

#[test]
fn rejects_malformed_or_oversized_certificates() {
    let der = client_cert().der;
    assert_eq!(
        ClientCertificate::from_der(&der[..der.len() - 1]).unwrap_err(),
        MtlsError::Malformed
    );
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(
        ClientCertificate::from_der(&trailing).unwrap_err(),
        MtlsError::Malformed
    );
    assert_eq!(
        ClientCertificate::from_der(b"not a certificate").unwrap_err(),
        MtlsError::Malformed
    );
    assert_eq!(
        ClientCertificate::from_der(&vec![0x30; MAX_CERTIFICATE_LEN + 1]).unwrap_err(),
        MtlsError::TooLarge
    );
    assert_eq!(MtlsError::Mismatch.code().as_str(), "invalid_client");
}

#[test]
fn certificate_bound_tokens() {
    let a = client_cert();
    let b = client_cert();
    let ca = ClientCertificate::from_der(&a.der).unwrap();
    let cnf = json!({"x5t#S256": ca.thumbprint_s256()});
    assert_eq!(ca.thumbprint_s256(), certificate_thumbprint_s256(&a.der));
    assert_eq!(ca.thumbprint_s256().len(), 43);
    assert!(check_certificate_binding(Some(&cnf), Some(&a.der), true));
    assert!(
        !check_certificate_binding(Some(&cnf), Some(&b.der), false),
        "another certificate"
    );
    assert!(
        !check_certificate_binding(Some(&cnf), None, false),
        "bound token without certificate"
    );
    assert!(!check_certificate_binding(
        Some(&json!({"x5t#S256": 1})),
        Some(&a.der),
        false
    ));
    assert!(
        !check_certificate_binding(Some(&json!({"jkt": "x"})), Some(&a.der), false),
        "unknown confirmation"
    );
    assert!(
        check_certificate_binding(None, Some(&a.der), false),
        "unbound token, binding optional"
    );
    assert!(check_certificate_binding(None, None, false));
    assert!(
        !check_certificate_binding(None, Some(&a.der), true),
        "binding required"
    );
}

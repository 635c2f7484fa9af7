//! Differential tests against josekit (OpenSSL underneath): tokens and keys made by one are accepted by the
//! other, for every algorithm both support, on every Portcullis backend.

mod common;

use common::backends;
use josekit::jwk::KeyPair as _;
use portcullis_jose::{Algorithm, Error, HmacKey, Jwk, JwkSet, VerifyOptions, jws};

type Signer = Box<dyn josekit::jws::JwsSigner>;
type Verifier = Box<dyn josekit::jws::JwsVerifier>;

fn jk(j: &Jwk) -> josekit::jwk::Jwk {
    josekit::jwk::Jwk::from_bytes(j.to_json().as_bytes()).unwrap()
}

fn josekit_signer(alg: Algorithm, private: &Jwk) -> Signer {
    let k = jk(private);
    match alg {
        Algorithm::Es256 => Box::new(josekit::jws::ES256.signer_from_jwk(&k).unwrap()),
        Algorithm::Es384 => Box::new(josekit::jws::ES384.signer_from_jwk(&k).unwrap()),
        Algorithm::Rs256 => Box::new(josekit::jws::RS256.signer_from_jwk(&k).unwrap()),
        Algorithm::Rs384 => Box::new(josekit::jws::RS384.signer_from_jwk(&k).unwrap()),
        Algorithm::Rs512 => Box::new(josekit::jws::RS512.signer_from_jwk(&k).unwrap()),
        Algorithm::Ps256 => Box::new(josekit::jws::PS256.signer_from_jwk(&k).unwrap()),
        Algorithm::Ps384 => Box::new(josekit::jws::PS384.signer_from_jwk(&k).unwrap()),
        Algorithm::Ps512 => Box::new(josekit::jws::PS512.signer_from_jwk(&k).unwrap()),
        Algorithm::EdDsa => Box::new(josekit::jws::EdDSA.signer_from_jwk(&k).unwrap()),
        Algorithm::Hs256 => Box::new(josekit::jws::HS256.signer_from_jwk(&k).unwrap()),
        Algorithm::Hs384 => Box::new(josekit::jws::HS384.signer_from_jwk(&k).unwrap()),
        Algorithm::Hs512 => Box::new(josekit::jws::HS512.signer_from_jwk(&k).unwrap()),
    }
}

fn josekit_verifier(alg: Algorithm, public: &Jwk) -> Verifier {
    let k = jk(public);
    match alg {
        Algorithm::Es256 => Box::new(josekit::jws::ES256.verifier_from_jwk(&k).unwrap()),
        Algorithm::Es384 => Box::new(josekit::jws::ES384.verifier_from_jwk(&k).unwrap()),
        Algorithm::Rs256 => Box::new(josekit::jws::RS256.verifier_from_jwk(&k).unwrap()),
        Algorithm::Rs384 => Box::new(josekit::jws::RS384.verifier_from_jwk(&k).unwrap()),
        Algorithm::Rs512 => Box::new(josekit::jws::RS512.verifier_from_jwk(&k).unwrap()),
        Algorithm::Ps256 => Box::new(josekit::jws::PS256.verifier_from_jwk(&k).unwrap()),
        Algorithm::Ps384 => Box::new(josekit::jws::PS384.verifier_from_jwk(&k).unwrap()),
        Algorithm::Ps512 => Box::new(josekit::jws::PS512.verifier_from_jwk(&k).unwrap()),
        Algorithm::EdDsa => Box::new(josekit::jws::EdDSA.verifier_from_jwk(&k).unwrap()),
        Algorithm::Hs256 => Box::new(josekit::jws::HS256.verifier_from_jwk(&k).unwrap()),
        Algorithm::Hs384 => Box::new(josekit::jws::HS384.verifier_from_jwk(&k).unwrap()),
        Algorithm::Hs512 => Box::new(josekit::jws::HS512.verifier_from_jwk(&k).unwrap()),
    }
}

/// A private JWK made by josekit (OpenSSL), with `alg` removed so that one key can be tried with its whole family.
fn josekit_key(alg: Algorithm) -> Jwk {
    let mut k = match alg {
        Algorithm::Es256 => josekit::jws::ES256
            .generate_key_pair()
            .unwrap()
            .to_jwk_key_pair(),
        Algorithm::Es384 => josekit::jws::ES384
            .generate_key_pair()
            .unwrap()
            .to_jwk_key_pair(),
        Algorithm::EdDsa => josekit::jws::EdDSA
            .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
            .unwrap()
            .to_jwk_key_pair(),
        a if a.is_symmetric() => josekit::jwk::Jwk::generate_oct_key(64).unwrap(),
        _ => josekit::jws::RS256
            .generate_key_pair(2048)
            .unwrap()
            .to_jwk_key_pair(),
    };
    k.set_algorithm(alg.as_str());
    Jwk::from_json(k.to_string().as_bytes()).unwrap()
}

fn portcullis_verify(
    token: &str,
    alg: Algorithm,
    key: &Jwk,
    b: portcullis_jose::Backend,
) -> Result<Vec<u8>, Error> {
    let opts = VerifyOptions::new(alg);
    if alg.is_symmetric() {
        jws::verify(token, &HmacKey::from_jwk_with(key, b).unwrap(), &opts).map(|v| v.payload)
    } else {
        let set = JwkSet::new_with(vec![key.to_public().unwrap()], b);
        jws::verify(token, &set, &opts).map(|v| v.payload)
    }
}

fn portcullis_sign(
    alg: Algorithm,
    key: &Jwk,
    b: portcullis_jose::Backend,
    payload: &[u8],
) -> String {
    let header = jws::Header::new(alg);
    if alg.is_symmetric() {
        jws::sign(&header, payload, &HmacKey::from_jwk_with(key, b).unwrap()).unwrap()
    } else {
        jws::sign(&header, payload, &key.signing_key_with(b).unwrap()).unwrap()
    }
}

#[test]
fn josekit_tokens_verify_in_portcullis_and_back() {
    let payload = br#"{"iss":"https://op.example","sub":"248289761001","aud":"s6BhdRkqt3"}"#;
    let mut pairs = 0;
    for alg in Algorithm::ALL {
        let key = josekit_key(alg);
        for &b in backends() {
            // josekit signs, Portcullis verifies.
            let mut header = josekit::jws::JwsHeader::new();
            header.set_token_type("JWT");
            let token =
                josekit::jws::serialize_compact(payload, &header, &*josekit_signer(alg, &key))
                    .unwrap();
            assert_eq!(
                portcullis_verify(&token, alg, &key, b).unwrap(),
                payload,
                "{alg} on {}",
                b.name()
            );
            // Portcullis signs, josekit verifies.
            let ours = portcullis_sign(alg, &key, b, payload);
            let public = if alg.is_symmetric() {
                key.clone()
            } else {
                key.to_public().unwrap()
            };
            let (got, _) =
                josekit::jws::deserialize_compact(&ours, &*josekit_verifier(alg, &public)).unwrap();
            assert_eq!(got, payload, "{alg} on {}", b.name());
            // Tampering is caught by both.
            let tampered = format!("{}A", &ours[..ours.len() - 1]);
            if tampered != ours {
                assert!(
                    josekit::jws::deserialize_compact(&tampered, &*josekit_verifier(alg, &public))
                        .is_err()
                );
                assert!(portcullis_verify(&tampered, alg, &key, b).is_err());
            }
            pairs += 1;
        }
    }
    assert_eq!(pairs, 12 * backends().len());
}

#[test]
fn keys_exported_by_one_import_in_the_other() {
    for alg in [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Rs256,
        Algorithm::EdDsa,
    ] {
        // Portcullis → josekit: JWK (done above) and PKCS#8 PEM.
        let ours = common::key_for(alg);
        let pem = ours.to_pkcs8_pem().unwrap();
        let signer: Signer = match alg {
            Algorithm::Es256 => {
                Box::new(josekit::jws::ES256.signer_from_pem(pem.as_bytes()).unwrap())
            }
            Algorithm::Es384 => {
                Box::new(josekit::jws::ES384.signer_from_pem(pem.as_bytes()).unwrap())
            }
            Algorithm::Rs256 => {
                Box::new(josekit::jws::RS256.signer_from_pem(pem.as_bytes()).unwrap())
            }
            _ => Box::new(josekit::jws::EdDSA.signer_from_pem(pem.as_bytes()).unwrap()),
        };
        let token =
            josekit::jws::serialize_compact(b"x", &josekit::jws::JwsHeader::new(), &*signer)
                .unwrap();
        for &b in backends() {
            assert_eq!(portcullis_verify(&token, alg, &ours, b).unwrap(), b"x");
        }
        // josekit → Portcullis: PKCS#8 PEM (private) and JWK (public).
        let (their_pem, their_public) = match alg {
            Algorithm::Es256 => {
                let kp = josekit::jws::ES256.generate_key_pair().unwrap();
                (kp.to_pem_private_key(), kp.to_jwk_public_key())
            }
            Algorithm::Es384 => {
                let kp = josekit::jws::ES384.generate_key_pair().unwrap();
                (kp.to_pem_private_key(), kp.to_jwk_public_key())
            }
            Algorithm::Rs256 => {
                let kp = josekit::jws::RS256.generate_key_pair(2048).unwrap();
                (kp.to_pem_private_key(), kp.to_jwk_public_key())
            }
            _ => {
                let kp = josekit::jws::EdDSA
                    .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
                    .unwrap();
                (kp.to_pem_private_key(), kp.to_jwk_public_key())
            }
        };
        let imported = Jwk::from_pkcs8_pem(std::str::from_utf8(&their_pem).unwrap()).unwrap();
        let their_public = Jwk::from_json(their_public.to_string().as_bytes()).unwrap();
        assert_eq!(imported.thumbprint(), their_public.thumbprint(), "{alg}");
        for &b in backends() {
            let token = portcullis_sign(alg, &imported, b, b"y");
            assert_eq!(
                portcullis_verify(&token, alg, &their_public, b).unwrap(),
                b"y"
            );
        }
    }
}

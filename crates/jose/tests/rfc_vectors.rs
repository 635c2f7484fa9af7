//! Published examples: RFC 7515 appendix A, RFC 7520 §4, RFC 7638 §3.1, RFC 8037 appendix A. Every backend.

mod common;

use common::{b64, backends, jwk, vector};
use portcullis_jose::{Algorithm, Error, HashAlg, HmacKey, Jwk, KeyError, VerifyOptions, jws};

#[test]
fn rfc7515_a2_rs256_verifies_on_every_backend() {
    let v = &vector("rfc_examples.json")["rfc7515_a2_rs256"];
    let token = v["token"].as_str().unwrap();
    for &b in backends() {
        let key = jwk(&v["jwk"]).verifying_key_with(b).unwrap();
        let out = jws::verify(token, &key, &VerifyOptions::new(Algorithm::Rs256)).unwrap();
        assert_eq!(
            out.payload,
            v["payload"].as_str().unwrap().as_bytes(),
            "{}",
            b.name()
        );
    }
}

#[test]
fn rfc7515_a3_es256_verifies_on_every_backend() {
    let v = &vector("rfc_examples.json")["rfc7515_a3_es256"];
    let token = v["token"].as_str().unwrap();
    for &b in backends() {
        let key = jwk(&v["jwk"]);
        let out = jws::verify(
            token,
            &key.verifying_key_with(b).unwrap(),
            &VerifyOptions::new(Algorithm::Es256),
        )
        .unwrap();
        assert_eq!(out.payload, v["payload"].as_str().unwrap().as_bytes());
        // The private key of the example signs something that verifies (ECDSA is randomised, so not equal bytes).
        let signer = key.signing_key_with(b).unwrap();
        let again = jws::sign(&jws::Header::new(Algorithm::Es256), b"x", &signer).unwrap();
        jws::verify(
            &again,
            &key.verifying_key_with(b).unwrap(),
            &VerifyOptions::new(Algorithm::Es256),
        )
        .unwrap();
    }
}

#[test]
fn rfc7515_a3_rejected_when_es256_not_allowed() {
    let v = &vector("rfc_examples.json")["rfc7515_a3_es256"];
    let key = jwk(&v["jwk"]).verifying_key().unwrap();
    let err = jws::verify(
        v["token"].as_str().unwrap(),
        &key,
        &VerifyOptions::new(Algorithm::Rs256),
    )
    .unwrap_err();
    assert_eq!(err, Error::AlgorithmNotAllowed(Algorithm::Es256));
}

#[test]
fn rfc8037_ed25519_thumbprint_sign_and_verify() {
    let v = &vector("rfc_examples.json")["rfc8037_a_ed25519"];
    let key = jwk(&v["jwk"]);
    assert_eq!(key.thumbprint(), v["thumbprint"].as_str().unwrap());
    let token = v["token"].as_str().unwrap();
    let (signing_input, sig) = token.rsplit_once('.').unwrap();
    for &b in backends() {
        // Ed25519 is deterministic: the signature must be the RFC's, byte for byte.
        let signer = key.signing_key_with(b).unwrap();
        assert_eq!(
            signer
                .sign(Algorithm::EdDsa, signing_input.as_bytes())
                .unwrap(),
            b64(sig),
            "{}",
            b.name()
        );
        let out = jws::verify(
            token,
            &key.verifying_key_with(b).unwrap(),
            &VerifyOptions::new(Algorithm::EdDsa),
        )
        .unwrap();
        assert_eq!(out.payload, v["payload"].as_str().unwrap().as_bytes());
        assert_eq!(
            key.thumbprint_with(HashAlg::Sha256, b),
            v["thumbprint"].as_str().unwrap()
        );
    }
}

#[test]
fn rfc7638_thumbprint_of_the_example_key() {
    let v = &vector("rfc_examples.json")["rfc7638_3_1"];
    for &b in backends() {
        assert_eq!(
            jwk(&v["jwk"]).thumbprint_with(HashAlg::Sha256, b),
            v["thumbprint"].as_str().unwrap()
        );
    }
}

#[test]
fn rfc7520_section4_signatures() {
    let v = vector("rfc7520_signatures.json");
    let payload = v["payload"].as_str().unwrap().as_bytes();
    let mut checked = 0;
    for ex in v["examples"].as_array().unwrap() {
        let alg_name = ex["alg"].as_str().unwrap();
        let compact = ex["compact"].as_str().unwrap();
        if ex["unsupported"].as_bool() == Some(true) {
            // ES512 / P-521 is not implemented: both the key and the token are refused, precisely.
            let err = Jwk::from_json(ex["jwk"].to_string().as_bytes()).unwrap_err();
            assert_eq!(err, Error::Key(KeyError::UnsupportedCurve("P-521".into())));
            let hmac = HmacKey::new(&[0; 64]).unwrap();
            let err =
                jws::verify(compact, &hmac, &VerifyOptions::new(Algorithm::Hs256)).unwrap_err();
            assert_eq!(err, Error::UnsupportedAlgorithm("ES512".into()));
            continue;
        }
        let alg: Algorithm = alg_name.parse().unwrap();
        let key = jwk(&ex["jwk"]);
        let (signing_input, sig) = compact.rsplit_once('.').unwrap();
        for &b in backends() {
            let opts = VerifyOptions::new(alg);
            let out = if alg.is_symmetric() {
                let k = HmacKey::from_jwk_with(&key, b).unwrap();
                if ex["deterministic"].as_bool() == Some(true) {
                    assert_eq!(k.sign(alg, signing_input.as_bytes()).unwrap(), b64(sig));
                }
                jws::verify(compact, &k, &opts).unwrap()
            } else {
                let signer = key.signing_key_with(b).unwrap();
                if ex["deterministic"].as_bool() == Some(true) {
                    assert_eq!(
                        signer.sign(alg, signing_input.as_bytes()).unwrap(),
                        b64(sig),
                        "{alg} on {}",
                        b.name()
                    );
                }
                let verifier = key.verifying_key_with(b).unwrap();
                // Our own fresh signature over the same input verifies too.
                let fresh = signer.sign(alg, signing_input.as_bytes()).unwrap();
                verifier
                    .verify(alg, signing_input.as_bytes(), &fresh)
                    .unwrap();
                jws::verify(compact, &verifier, &opts).unwrap()
            };
            assert_eq!(out.payload, payload);
            assert_eq!(out.header.kid.as_deref(), ex["jwk"]["kid"].as_str());
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * backends().len());
}

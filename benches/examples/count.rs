//! Instruction counting helper: `valgrind --tool=callgrind --toggle-collect='count::run' target/release/examples/count WHAT ALG`
//! where WHAT is `ours`, `raw` or `jsonwebtoken` and ALG `ES256` or `RS256`; 200 verifications.
use std::hint::black_box;

use portcullis_benches::{AUDIENCE, Extra, Fixture, ISSUER, IdTokenClaims, fixture};
use portcullis_jose::{Algorithm, JwkSet, Validation, jwt};

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let alg: Algorithm = std::env::args()
        .nth(2)
        .unwrap_or("ES256".into())
        .parse()
        .unwrap();
    let f = fixture(alg);
    run(&what, alg, &f);
}

#[inline(never)]
fn run(what: &str, alg: Algorithm, f: &Fixture) {
    let rsa = alg == Algorithm::Rs256;
    let set = JwkSet::new(vec![f.key.to_public().unwrap()]);
    let v = Validation::new(alg).issuer(ISSUER).audience(AUDIENCE);
    let (aws_alg, bytes): (
        &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
        Vec<u8>,
    ) = if rsa {
        (
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            f.rsa_pkcs1_der(),
        )
    } else {
        (
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            f.sec1_point(),
        )
    };
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(aws_alg, &bytes).unwrap();
    use jsonwebtoken_aws as jt;
    let key = if rsa {
        jt::DecodingKey::from_rsa_components(&f.member("n"), &f.member("e")).unwrap()
    } else {
        jt::DecodingKey::from_ec_components(&f.member("x"), &f.member("y")).unwrap()
    };
    let mut jv = jt::Validation::new(if rsa {
        jt::Algorithm::RS256
    } else {
        jt::Algorithm::ES256
    });
    jv.set_issuer(&[ISSUER]);
    jv.set_audience(&[AUDIENCE]);
    for _ in 0..200 {
        match what {
            "ours" => drop(black_box(jwt::decode::<Extra>(&f.token, &set, &v).unwrap())),
            "raw" => parsed
                .verify_sig(f.signing_input.as_bytes(), &f.signature)
                .unwrap(),
            "jsonwebtoken" => drop(black_box(
                jt::decode::<IdTokenClaims>(f.token.as_str(), &key, &jv).unwrap(),
            )),
            _ => {}
        }
    }
}

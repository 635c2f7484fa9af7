//! Shared fixtures for the Portcullis benches: one realistic OpenID Connect ID token (11 claims) per algorithm,
//! signed by Portcullis, and the key material in the forms each library wants.

use portcullis_jose::{Algorithm, Jwk, jws, jwt};
use serde_json::{Value, json};

/// The ID token claims an RP reads besides the registered ones Portcullis types itself (`sub`, `nonce`,
/// `auth_time`, `azp` ...). Used as the custom claims type by every library that has one.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Extra {
    /// `at_hash`
    pub at_hash: String,
    /// `email`
    pub email: String,
    /// `email_verified`
    pub email_verified: bool,
}

/// Everything an RP reads from the ID token, for libraries whose claims type is the whole claims set.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IdTokenClaims {
    /// `sub`
    pub sub: String,
    /// `nonce`
    pub nonce: String,
    /// `auth_time`
    pub auth_time: u64,
    /// `azp`
    pub azp: String,
    /// `at_hash`
    pub at_hash: String,
    /// `email`
    pub email: String,
    /// `email_verified`
    pub email_verified: bool,
}

/// Issuer of the fixture tokens.
pub const ISSUER: &str = "https://op.portcullis.example";
/// Audience of the fixture tokens.
pub const AUDIENCE: &str = "s6BhdRkqt3";

/// A signed ID token and its key.
pub struct Fixture {
    /// The private JWK (with `kid`).
    pub key: Jwk,
    /// The compact token.
    pub token: String,
    /// `header.payload`, the signing input.
    pub signing_input: String,
    /// The raw signature bytes.
    pub signature: Vec<u8>,
    /// Claims, for the signing benches.
    pub claims: Value,
}

/// The claims of a typical ID token, valid for an hour.
pub fn id_token_claims() -> Value {
    let now = jwt::NumericDate::now().as_secs();
    json!({
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": AUDIENCE,
        "exp": now + 3600,
        "iat": now,
        "auth_time": now - 30,
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "azp": AUDIENCE,
        "email": "janedoe@example.com",
        "email_verified": true
    })
}

/// Builds the fixture for `alg` (a P-256 key for ES256, a 2048-bit RSA key for RS256).
pub fn fixture(alg: Algorithm) -> Fixture {
    let key = Jwk::generate(alg).unwrap();
    let claims = id_token_claims();
    let header = jws::Header::new(alg).with_typ("JWT");
    let token = jwt::encode_value(&header, &claims, &key.signing_key().unwrap()).unwrap();
    let (signing_input, sig) = token.rsplit_once('.').unwrap();
    Fixture {
        signing_input: signing_input.to_owned(),
        signature: portcullis_jose::base64url::decode(sig).unwrap(),
        token,
        key,
        claims,
    }
}

impl Fixture {
    /// A public JWK member as a string (`x`, `y`, `n`, `e`).
    pub fn member(&self, name: &str) -> String {
        self.key.to_map()[name].as_str().unwrap().to_owned()
    }

    /// A public JWK member decoded.
    pub fn member_bytes(&self, name: &str) -> Vec<u8> {
        portcullis_jose::base64url::decode(&self.member(name)).unwrap()
    }

    /// The uncompressed SEC1 point of an EC key.
    pub fn sec1_point(&self) -> Vec<u8> {
        [vec![4], self.member_bytes("x"), self.member_bytes("y")].concat()
    }

    /// PKCS#1 `RSAPublicKey` DER of an RSA key (what *ring*'s `UnparsedPublicKey` takes).
    pub fn rsa_pkcs1_der(&self) -> Vec<u8> {
        fn int(b: &[u8]) -> Vec<u8> {
            let mut v = if b[0] & 0x80 != 0 { vec![0] } else { vec![] };
            v.extend_from_slice(b);
            tlv(2, &v)
        }
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            let n = body.len();
            if n < 128 {
                out.push(n as u8);
            } else if n < 256 {
                out.extend([0x81, n as u8]);
            } else {
                out.extend([0x82, (n >> 8) as u8, n as u8]);
            }
            out.extend_from_slice(body);
            out
        }
        tlv(
            0x30,
            &[int(&self.member_bytes("n")), int(&self.member_bytes("e"))].concat(),
        )
    }
}

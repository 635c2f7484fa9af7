//! The login bridge's postback: what an authenticating website's backend posts to the provider once it has
//! signed its user in (the site's user id, the claims it releases, and whether the user is asked to consent).
//!
//! The body is a JSON object; everything about it is checked here, without I/O: its size, the request id's
//! shape, the identifier, and each claim's name, type and size (OIDC Core §5.1 types for the standard claims).
//! Which claim names a provider accepts beyond that is its own list ([`Postback::first_claim_outside`]).
//!
//! ```
//! use portcullis_oidc::{Postback, PostbackError};
//!
//! let body = br#"{"request_id":"rq_0123456789abcdef","identifier":"u-42","no_prompt":false,
//!                 "claims":{"name":"Ada","email":"ada@shop.example","email_verified":true}}"#;
//! let p = Postback::parse(body)?;
//! assert_eq!(p.identifier, "u-42");
//! assert_eq!(p.claims["email_verified"], true);
//!
//! // A standard claim of the wrong type is refused, naming the claim.
//! let bad = br#"{"request_id":"rq_0123456789abcdef","identifier":"u-42","claims":{"email_verified":"yes"}}"#;
//! assert_eq!(Postback::parse(bad), Err(PostbackError::ClaimType("email_verified".into())));
//! # Ok::<(), PostbackError>(())
//! ```
//!
//! Must not: accept a claim that says who issued or who receives a token (`sub`, `iss`, `aud`, ...), an
//! unbounded value, or a body it did not check entirely.

use serde_json::{Map, Value};

/// Largest postback body, in bytes.
pub const MAX_POSTBACK: usize = 16 * 1024;
/// Most claims in one postback.
pub const MAX_POSTBACK_CLAIMS: usize = 32;
/// Longest string claim value, in bytes.
pub const MAX_CLAIM_STRING: usize = 1024;
/// Longest serialized value of a structured claim (`address`, or a provider's own object claim), in bytes.
pub const MAX_CLAIM_OBJECT: usize = 2048;
/// Longest site user identifier, in bytes.
pub const MAX_IDENTIFIER: usize = 255;

/// Why a postback was refused. The provider answers each with a 4xx and this text: the site should not retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostbackError {
    /// Over [`MAX_POSTBACK`] bytes.
    #[error("the body is larger than {MAX_POSTBACK} bytes")]
    TooLarge,
    /// Not a JSON object of the expected members.
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    /// A member the postback does not have.
    #[error("unknown member {0:?}")]
    UnknownMember(String),
    /// `request_id` missing or not one the provider could have made.
    #[error("request_id is missing or malformed")]
    RequestId,
    /// `identifier` missing, empty, too long or with control characters.
    #[error(
        "identifier is missing, empty, longer than {MAX_IDENTIFIER} bytes or has control characters"
    )]
    Identifier,
    /// `no_prompt` not a boolean.
    #[error("no_prompt must be true or false")]
    NoPrompt,
    /// `auth_time` not a non-negative integer.
    #[error("auth_time must be seconds since the epoch")]
    AuthTime,
    /// More than [`MAX_POSTBACK_CLAIMS`] claims.
    #[error("more than {MAX_POSTBACK_CLAIMS} claims")]
    TooManyClaims,
    /// A claim name that is malformed or names a protocol claim.
    #[error("claim name {0:?} is not allowed")]
    ClaimName(String),
    /// A claim of the wrong JSON type for its name.
    #[error("claim {0:?} has the wrong type")]
    ClaimType(String),
    /// A claim over its size limit.
    #[error("claim {0:?} is too large")]
    ClaimSize(String),
}

/// A checked postback.
#[derive(Debug, Clone, PartialEq)]
pub struct Postback {
    /// The request id the provider sent the browser to the site with.
    pub request_id: String,
    /// The site's identifier of its user: stable, never reassigned.
    pub identifier: String,
    /// Whether the user skips the consent page (honoured only for sites the provider trusts). Default false.
    pub no_prompt: bool,
    /// When the site authenticated its user (seconds since the epoch), if it says: a relying party's `max_age`
    /// is checked against it.
    pub auth_time: Option<u64>,
    /// The claims the site releases, each checked for name, type and size.
    pub claims: Map<String, Value>,
}

/// Claims that say who issued a token, to whom, when, or how: never the site's to set.
const PROTOCOL_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "nonce",
    "auth_time",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "cnf",
    "auth_factor",
    "events",
    "_claim_names",
    "_claim_sources",
];

/// The standard claims (OIDC Core §5.1) but `sub`: what a site or an upstream releases unless it is allowed
/// more.
pub const STANDARD_CLAIMS: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
];

/// The claims that say a standard claim was verified: believed only from a source trusted for it.
pub const VERIFIED_CLAIMS: &[&str] = &["email_verified", "phone_number_verified"];

/// The JSON type a standard claim must have (OIDC Core §5.1).
enum Kind {
    String,
    Bool,
    Number,
    Address,
}

fn standard_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "name" | "given_name" | "family_name" | "middle_name" | "nickname"
        | "preferred_username" | "profile" | "picture" | "website" | "email" | "gender"
        | "birthdate" | "zoneinfo" | "locale" | "phone_number" => Kind::String,
        "email_verified" | "phone_number_verified" => Kind::Bool,
        "updated_at" => Kind::Number,
        "address" => Kind::Address,
        _ => return None,
    })
}

/// The members of the `address` claim (OIDC Core §5.1.1), all strings.
const ADDRESS_MEMBERS: &[&str] = &[
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !PROTOCOL_CLAIMS.contains(&name)
}

fn check_string(name: &str, v: &Value) -> Result<(), PostbackError> {
    let s = v
        .as_str()
        .ok_or_else(|| PostbackError::ClaimType(name.into()))?;
    if s.len() > MAX_CLAIM_STRING {
        return Err(PostbackError::ClaimSize(name.into()));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(PostbackError::ClaimType(name.into()));
    }
    Ok(())
}

/// Checks one released claim as a postback's are checked: its name (not a protocol claim), its type for a
/// standard claim (OIDC Core §5.1), its size. A provider uses it for claims from other sources too (an upstream
/// provider's).
pub fn check_released_claim(name: &str, v: &Value) -> Result<(), PostbackError> {
    if !valid_name(name) {
        return Err(PostbackError::ClaimName(name.into()));
    }
    let wrong = || PostbackError::ClaimType(name.into());
    match standard_kind(name) {
        Some(Kind::String) => check_string(name, v)?,
        Some(Kind::Bool) => {
            v.as_bool().ok_or_else(wrong)?;
        }
        Some(Kind::Number) => {
            v.as_u64().ok_or_else(wrong)?;
        }
        Some(Kind::Address) => {
            let o = v.as_object().ok_or_else(wrong)?;
            for (k, member) in o {
                if !ADDRESS_MEMBERS.contains(&k.as_str()) {
                    return Err(wrong());
                }
                check_string(name, member)?;
            }
        }
        // A provider's own claim (`avatar`, `payment_details`, ...): any JSON value, bounded.
        None => match v {
            Value::String(_) => check_string(name, v)?,
            Value::Null => return Err(wrong()),
            _ => {
                if depth(v) > 4 || v.to_string().len() > MAX_CLAIM_OBJECT {
                    return Err(PostbackError::ClaimSize(name.into()));
                }
            }
        },
    }
    Ok(())
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A request id the provider could have made: 16 to 64 base64url characters.
fn valid_request_id(s: &str) -> bool {
    (16..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Postback {
    /// Parses and checks a postback body (UTF-8 JSON). Members: `request_id` and `identifier` (required),
    /// `no_prompt` (boolean, default false), `auth_time` (seconds, optional), `claims` (object, default empty).
    /// Anything else is refused.
    pub fn parse(body: &[u8]) -> Result<Postback, PostbackError> {
        if body.len() > MAX_POSTBACK {
            return Err(PostbackError::TooLarge);
        }
        let v: Value =
            serde_json::from_slice(body).map_err(|e| PostbackError::NotJson(e.to_string()))?;
        let Value::Object(o) = v else {
            return Err(PostbackError::NotJson("not an object".into()));
        };
        if let Some(k) = o.keys().find(|k| {
            ![
                "request_id",
                "identifier",
                "no_prompt",
                "auth_time",
                "claims",
            ]
            .contains(&k.as_str())
        }) {
            return Err(PostbackError::UnknownMember(k.clone()));
        }
        let request_id = o
            .get("request_id")
            .and_then(Value::as_str)
            .filter(|s| valid_request_id(s))
            .ok_or(PostbackError::RequestId)?
            .to_owned();
        let identifier = o
            .get("identifier")
            .and_then(Value::as_str)
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= MAX_IDENTIFIER
                    && !s.chars().any(char::is_control)
                    && s.trim() == *s
            })
            .ok_or(PostbackError::Identifier)?
            .to_owned();
        let no_prompt = match o.get("no_prompt") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(PostbackError::NoPrompt),
        };
        let auth_time = match o.get("auth_time") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or(PostbackError::AuthTime)?),
        };
        let claims = match o.get("claims") {
            None => Map::new(),
            Some(Value::Object(c)) => c.clone(),
            Some(_) => return Err(PostbackError::NotJson("claims is not an object".into())),
        };
        if claims.len() > MAX_POSTBACK_CLAIMS {
            return Err(PostbackError::TooManyClaims);
        }
        for (name, v) in &claims {
            check_released_claim(name, v)?;
        }
        Ok(Postback {
            request_id,
            identifier,
            no_prompt,
            auth_time,
            claims,
        })
    }

    /// The first claim whose name `allowed` refuses (a provider accepts the claims its scopes release).
    pub fn first_claim_outside(&self, allowed: impl Fn(&str) -> bool) -> Option<&str> {
        self.claims
            .keys()
            .map(String::as_str)
            .find(|name| !allowed(name))
    }

    /// What the postback asserts, in one canonical string: two posts for one request are the same answer
    /// exactly when these are equal (claims in key order, whatever order `serde_json`'s map keeps).
    pub fn canonical(&self) -> String {
        let claims: std::collections::BTreeMap<&String, &Value> = self.claims.iter().collect();
        serde_json::json!({
            "identifier": self.identifier,
            "no_prompt": self.no_prompt,
            "auth_time": self.auth_time,
            "claims": claims,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "rq_0123456789abcdef";

    fn body(claims: &str) -> Vec<u8> {
        format!(r#"{{"request_id":"{ID}","identifier":"u1","claims":{claims}}}"#).into_bytes()
    }

    #[test]
    fn accepts_standard_claims_of_their_types() {
        let p = Postback::parse(&body(
            r#"{"name":"Ada","email_verified":false,"updated_at":1700000000,
                "address":{"locality":"Paris","country":"FR"},"avatar":"https://x.example/a.png",
                "payment_details":{"iban":"FR76","holder":{"name":"Ada"}}}"#,
        ))
        .unwrap();
        assert_eq!(p.claims.len(), 6);
        assert!(!p.no_prompt);
    }

    #[test]
    fn refuses_protocol_claims_and_malformed_names() {
        for name in [
            "sub", "iss", "aud", "amr", "acr", "Email", "e-mail", "", "x y",
        ] {
            let b = body(&format!(r#"{{"{name}":"v"}}"#));
            assert_eq!(
                Postback::parse(&b),
                Err(PostbackError::ClaimName(name.into())),
                "{name}"
            );
        }
    }

    #[test]
    fn refuses_mistyped_claims() {
        for (claims, name) in [
            (r#"{"email":true}"#, "email"),
            (r#"{"email_verified":"true"}"#, "email_verified"),
            (r#"{"updated_at":"1700000000"}"#, "updated_at"),
            (r#"{"updated_at":-1}"#, "updated_at"),
            (r#"{"address":"Paris"}"#, "address"),
            (r#"{"address":{"city":"Paris"}}"#, "address"),
            (r#"{"address":{"locality":1}}"#, "address"),
            (r#"{"name":"a\u0000b"}"#, "name"),
            (r#"{"avatar":null}"#, "avatar"),
        ] {
            assert_eq!(
                Postback::parse(&body(claims)),
                Err(PostbackError::ClaimType(name.into())),
                "{claims}"
            );
        }
    }

    #[test]
    fn refuses_oversized_input() {
        let long = "x".repeat(MAX_CLAIM_STRING + 1);
        assert_eq!(
            Postback::parse(&body(&format!(r#"{{"name":"{long}"}}"#))),
            Err(PostbackError::ClaimSize("name".into()))
        );
        let deep = format!("{}1{}", "[".repeat(6), "]".repeat(6));
        assert_eq!(
            Postback::parse(&body(&format!(r#"{{"extra":{deep}}}"#))),
            Err(PostbackError::ClaimSize("extra".into()))
        );
        let many: Vec<String> = (0..=MAX_POSTBACK_CLAIMS)
            .map(|i| format!(r#""c{i}":"v""#))
            .collect();
        assert_eq!(
            Postback::parse(&body(&format!("{{{}}}", many.join(",")))),
            Err(PostbackError::TooManyClaims)
        );
        assert_eq!(
            Postback::parse(&vec![b' '; MAX_POSTBACK + 1]),
            Err(PostbackError::TooLarge)
        );
    }

    #[test]
    fn refuses_bad_envelopes() {
        let cases: [(&str, PostbackError); 8] = [
            (
                &format!(r#"{{"request_id":"{ID}","identifier":"u1","auth_time":"now"}}"#),
                PostbackError::AuthTime,
            ),
            (r#"{"identifier":"u1"}"#, PostbackError::RequestId),
            (
                r#"{"request_id":"short","identifier":"u1"}"#,
                PostbackError::RequestId,
            ),
            (
                &format!(r#"{{"request_id":"{ID}"}}"#),
                PostbackError::Identifier,
            ),
            (
                &format!(r#"{{"request_id":"{ID}","identifier":" u1"}}"#),
                PostbackError::Identifier,
            ),
            (
                &format!(r#"{{"request_id":"{ID}","identifier":"u1","no_prompt":"true"}}"#),
                PostbackError::NoPrompt,
            ),
            (
                &format!(r#"{{"request_id":"{ID}","identifier":"u1","api_key":"k"}}"#),
                PostbackError::UnknownMember("api_key".into()),
            ),
            (
                &format!(
                    r#"{{"request_id":"{ID}","identifier":"{}"}}"#,
                    "u".repeat(MAX_IDENTIFIER + 1)
                ),
                PostbackError::Identifier,
            ),
        ];
        for (b, want) in cases {
            assert_eq!(Postback::parse(b.as_bytes()), Err(want), "{b}");
        }
        assert!(matches!(
            Postback::parse(b"[1]"),
            Err(PostbackError::NotJson(_))
        ));
    }

    #[test]
    fn canonical_form_ignores_member_order() {
        let a = Postback::parse(&body(r#"{"name":"Ada","email":"a@x.example"}"#)).unwrap();
        let b = Postback::parse(&body(r#"{"email":"a@x.example","name":"Ada"}"#)).unwrap();
        let c = Postback::parse(&body(r#"{"email":"b@x.example","name":"Ada"}"#)).unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(a.canonical(), c.canonical());
    }
}

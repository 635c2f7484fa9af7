//! Third-party initiated login (OIDC Core §4): the query a third party — an identity-provider selector — sends
//! to a relying party's `initiate_login_uri`: `iss` (where to log in), and optionally `login_hint`,
//! `target_link_uri` and, from a Portcullis selector, `idp_id` (the identity provider chosen there).
//!
//! ```
//! use portcullis_oidc::LoginInitiation;
//!
//! let i = LoginInitiation::parse("iss=https%3A%2F%2Fbank.example&idp_id=bank-a")?;
//! assert_eq!(i.issuer, "https://bank.example");
//! assert_eq!(i.idp_id.as_deref(), Some("bank-a"));
//! assert!(LoginInitiation::parse("idp_id=bank-a").is_err()); // no iss
//! # Ok::<(), portcullis_oidc::InitiationError>(())
//! ```
//!
//! Must not: accept a repeated parameter, a malformed `idp_id` or `login_hint`, or decide whether the issuer
//! is acceptable (the relying party checks it against its own list).

use crate::Params;

/// Longest `idp_id`.
pub const MAX_IDP_ID: usize = 64;
/// Longest `login_hint`.
pub const MAX_LOGIN_HINT: usize = 256;

/// Why an initiation request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitiationError {
    /// Not a well-formed query (a repeated parameter, an oversized one).
    #[error("malformed query")]
    Query,
    /// No `iss`.
    #[error("iss is missing")]
    MissingIssuer,
    /// `idp_id` is not 1 to 64 of `A-Z a-z 0-9 - . _ ~`.
    #[error("idp_id is malformed")]
    IdpId,
    /// `login_hint` is empty, too long or has control characters.
    #[error("login_hint is malformed")]
    LoginHint,
}

/// A checked initiation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginInitiation {
    /// `iss`.
    pub issuer: String,
    /// `idp_id`.
    pub idp_id: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `target_link_uri`, unchecked: a relying party compares it with its own pages before using it.
    pub target_link_uri: Option<String>,
}

impl LoginInitiation {
    /// Parses the query (a leading `?` is ignored).
    pub fn parse(query: &str) -> Result<LoginInitiation, InitiationError> {
        let p = Params::parse(query.trim_start_matches('?')).map_err(|_| InitiationError::Query)?;
        let issuer = p
            .get("iss")
            .filter(|i| !i.is_empty())
            .ok_or(InitiationError::MissingIssuer)?
            .to_owned();
        let idp_id = match p.get("idp_id") {
            Some(v)
                if !v.is_empty()
                    && v.len() <= MAX_IDP_ID
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
            {
                Some(v.to_owned())
            }
            Some(_) => return Err(InitiationError::IdpId),
            None => None,
        };
        let login_hint = match p.get("login_hint") {
            Some(v)
                if !v.is_empty()
                    && v.len() <= MAX_LOGIN_HINT
                    && !v.chars().any(char::is_control) =>
            {
                Some(v.to_owned())
            }
            Some(_) => return Err(InitiationError::LoginHint),
            None => None,
        };
        Ok(LoginInitiation {
            issuer,
            idp_id,
            login_hint,
            target_link_uri: p.get("target_link_uri").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_malformed() {
        let i =
            LoginInitiation::parse("?iss=x&login_hint=ada&target_link_uri=https%3A%2F%2Frp%2Fa")
                .unwrap();
        assert_eq!(i.login_hint.as_deref(), Some("ada"));
        assert_eq!(i.target_link_uri.as_deref(), Some("https://rp/a"));
        for (q, e) in [
            ("idp_id=a", InitiationError::MissingIssuer),
            ("iss=", InitiationError::MissingIssuer),
            ("iss=x&iss=y", InitiationError::Query),
            ("iss=x&idp_id=a%20b", InitiationError::IdpId),
            ("iss=x&login_hint=a%0Ab", InitiationError::LoginHint),
        ] {
            assert_eq!(LoginInitiation::parse(q), Err(e), "{q}");
        }
        // An empty parameter is an absent one (RFC 6749 §3.1).
        assert_eq!(
            LoginInitiation::parse("iss=x&idp_id=").unwrap().idp_id,
            None
        );
        let long = "a".repeat(MAX_IDP_ID + 1);
        assert_eq!(
            LoginInitiation::parse(&format!("iss=x&idp_id={long}")),
            Err(InitiationError::IdpId)
        );
    }
}

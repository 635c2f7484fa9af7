//! Third-party initiated login (OIDC Core §4): an identity-provider selector sends the browser to the relying
//! party's `initiate_login_uri` with the issuer chosen (`iss`) and, from a Portcullis selector, the `idp_id`
//! chosen. The login starts only at an issuer the relying party is configured for, with PKCE and a JARM
//! response (`response_mode=jwt`); the [`LoginSession`] keeps the issuer, and
//! [`complete`](RelyingParty::complete) refuses an answer that did not come from it (mix-up defence).
//!
//! Must not: start a login at an issuer that is not configured, or pass on a parameter it did not check.

use portcullis_oidc::{Params, ResponseMode};

use crate::{AuthOptions, LoginSession, RelyingParty, RpError};

/// What a third party asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiation {
    /// `iss`: where to log in.
    pub issuer: String,
    /// `idp_id`: the identity provider chosen at a selector (sent on to the issuer).
    pub idp_id: Option<String>,
    /// `login_hint` (sent on).
    pub login_hint: Option<String>,
    /// `target_link_uri`: where the third party would like the user to land (the caller checks it against its
    /// own pages before using it).
    pub target_link_uri: Option<String>,
}

fn token_like(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl Initiation {
    /// Parses the query of a request to the `initiate_login_uri` (strictly: a repeated parameter is refused).
    pub fn parse(query: &str) -> Result<Initiation, RpError> {
        let p = Params::parse(query.trim_start_matches('?'))?;
        let bad = |m: &str| RpError::Initiation(m.to_owned());
        let issuer = p
            .get("iss")
            .ok_or_else(|| bad("iss is missing"))?
            .to_owned();
        let idp_id = match p.get("idp_id") {
            Some(v) if token_like(v, 64) => Some(v.to_owned()),
            Some(_) => return Err(bad("idp_id is malformed")),
            None => None,
        };
        let login_hint = match p.get("login_hint") {
            Some(v) if !v.is_empty() && v.len() <= 256 && !v.chars().any(char::is_control) => {
                Some(v.to_owned())
            }
            Some(_) => return Err(bad("login_hint is malformed")),
            None => None,
        };
        Ok(Initiation {
            issuer,
            idp_id,
            login_hint,
            target_link_uri: p.get("target_link_uri").map(str::to_owned),
        })
    }
}

impl RelyingParty {
    /// Starts the login a third party asked for (the query of a request to the `initiate_login_uri`): at its
    /// `iss` if configured ([`RpError::UnknownIssuer`] otherwise, before any request is made), with `opts` plus
    /// `response_mode=jwt`, and `idp_id` and `login_hint` sent on.
    pub async fn begin_initiated(
        &self,
        query: &str,
        opts: &AuthOptions,
    ) -> Result<(String, LoginSession, Initiation), RpError> {
        let i = Initiation::parse(query)?;
        if !self.config.issuers.iter().any(|c| *c == i.issuer) {
            return Err(RpError::UnknownIssuer(i.issuer));
        }
        let mut opts = AuthOptions {
            response_mode: Some(ResponseMode::Jwt),
            ..opts.clone()
        };
        if let Some(idp) = &i.idp_id {
            opts.extra.push(("idp_id".into(), idp.clone()));
        }
        if let Some(hint) = &i.login_hint {
            opts.login_hint = Some(hint.clone());
        }
        let (url, session) = self.begin(&i.issuer, &opts).await?;
        Ok((url, session, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let i = Initiation::parse("iss=https%3A%2F%2Fbank.example&idp_id=bank-a&login_hint=ada")
            .unwrap();
        assert_eq!(i.issuer, "https://bank.example");
        assert_eq!(i.idp_id.as_deref(), Some("bank-a"));
        assert_eq!(i.login_hint.as_deref(), Some("ada"));
        for bad in [
            "idp_id=a",
            "iss=x&iss=y",
            "iss=x&idp_id=a%20b",
            "iss=x&idp_id=",
            "iss=x&login_hint=a%0Ab",
        ] {
            assert!(Initiation::parse(bad).is_err(), "{bad}");
        }
    }
}

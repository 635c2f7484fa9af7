//! Third-party initiated login (OIDC Core §4): an identity-provider selector sends the browser to the relying
//! party's `initiate_login_uri` with the issuer chosen (`iss`) and, from a Portcullis selector, the `idp_id`
//! chosen. The login starts only at an issuer the relying party is configured for, with PKCE and a JARM
//! response (`response_mode=jwt`); the [`LoginSession`] keeps the issuer, and
//! [`complete`](RelyingParty::complete) refuses an answer that did not come from it (mix-up defence).
//!
//! The query is parsed by [`LoginInitiation`] (sans-IO, in `portcullis-oidc`).
//!
//! Must not: start a login at an issuer that is not configured, or pass on a parameter it did not check.

use portcullis_oidc::{LoginInitiation, ResponseMode};

use crate::{AuthOptions, LoginSession, RelyingParty, RpError};

impl RelyingParty {
    /// Starts the login a third party asked for (the query of a request to the `initiate_login_uri`): at its
    /// `iss` if configured ([`RpError::UnknownIssuer`] otherwise, before any request is made), with `opts` plus
    /// `response_mode=jwt`, and `idp_id` and `login_hint` sent on.
    pub async fn begin_initiated(
        &self,
        query: &str,
        opts: &AuthOptions,
    ) -> Result<(String, LoginSession, LoginInitiation), RpError> {
        let i = LoginInitiation::parse(query).map_err(|e| RpError::Initiation(e.to_string()))?;
        if !self.config.issuers.contains(&i.issuer) {
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

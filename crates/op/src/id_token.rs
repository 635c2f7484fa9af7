//! ID tokens (OIDC Core §2, §3.1.3.6): signing one for a grant, with the claims its scope and `claims` request
//! release, and reading the `sub` of an `id_token_hint`.
//!
//! Must not: decide whether a token may be issued (the endpoints do).

use portcullis_jose::{AlgorithmSet, Validation, jwt};
use portcullis_oidc::{ClaimsRequest, IdTokenBuilder, Scope};
use serde_json::{Map, Value};

use crate::clients::Client;
use crate::keys::SIGNING_ALGS;
use crate::provider::Provider;
use crate::store::{GrantRow, UserRow};

impl Provider {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn id_token(
        &self,
        client: &Client,
        user: &UserRow,
        grant: &GrantRow,
        access_token: Option<&str>,
        code: Option<&str>,
        state: Option<&str>,
        scope_claims_in_id_token: bool,
    ) -> Result<String, String> {
        let sub = self.subject(client, &user.id);
        let (acr, amr) = self.methods.summary_parts(grant.authn.as_deref());
        let mut b = IdTokenBuilder::new(&self.cfg.issuer, &sub, &client.id)
            .lifetime(self.cfg.id_token_lifetime)
            .acr(acr)
            .amr(&amr)
            .azp(&client.id);
        if let Some(n) = &grant.nonce {
            b = b.nonce(n);
        }
        if let Some(a) = grant.auth_time {
            b = b.auth_time(a as u64);
        }
        if let Some(s) = &grant.sid {
            b = b.sid(s);
        }
        if let Some(a) = access_token {
            b = b.access_token(a);
        }
        if let Some(c) = code {
            b = b.code(c);
        }
        if let Some(s) = state {
            b = b.state(s);
        }
        let all = self.user_claims(user);
        let scope = Scope::parse(&grant.scope).unwrap_or_default();
        let claims_req = grant
            .claims
            .as_deref()
            .and_then(|c| ClaimsRequest::parse(c).ok());
        for (k, v) in self.scope_claims.id_token_claims(
            &all,
            &scope,
            claims_req.as_ref(),
            !scope_claims_in_id_token,
        ) {
            b = b.claim(&k, v);
        }
        let keys = self.keys();
        let key = keys
            .signer(client.id_token_alg)
            .ok_or("no key for the client's algorithm")?;
        b.sign(client.id_token_alg, key).map_err(|e| e.to_string())
    }

    /// The `sub` an `id_token_hint` names, if it is an ID token we issued to this client (expired ones are
    /// accepted as hints, OIDC Core §3.1.2.1).
    pub(crate) fn hint_subject(&self, hint: &str, client: &Client) -> Option<String> {
        let keys = self.keys();
        let algs = AlgorithmSet::from(SIGNING_ALGS);
        let v = Validation::new(algs)
            .issuer(self.cfg.issuer.clone())
            .audience(client.id.clone())
            .without_time_checks();
        let t: jwt::Jwt<Map<String, Value>> = jwt::decode(hint, keys.public(), &v).ok()?;
        // The provider signs other tokens with the same keys (step-up Auth Tokens, `factor+jwt`): only an ID
        // token's type (none, or `JWT`) is one.
        if t.header
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return None;
        }
        t.claims.registered.sub
    }
}

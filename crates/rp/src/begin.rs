//! Starting a login: the authorization request (PKCE S256, fresh `state` and `nonce`), optionally as a signed
//! request object (RFC 9101) or pushed (RFC 9126), and the [`LoginSession`] to keep. Must not read callbacks or
//! talk to the token endpoint.

use std::borrow::Cow;

use portcullis_jose::{jws, jwt};
use portcullis_oidc::{Params, ProviderMetadata, ResponseMode, ResponseType};
use portcullis_pkce::{CodeChallenge, CodeVerifier};
use serde_json::{Map, Value, json};

use crate::client_auth::signing_material;
use crate::{AuthOptions, ClientAuth, LoginSession, RelyingParty, RpError, random_token};

fn scope_union(a: &str, b: Option<&str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for s in a.split(' ').chain(b.unwrap_or("").split(' ')) {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(" ")
}

impl RelyingParty {
    /// Starts a login with `issuer`: returns the URL to send the browser to and the session to keep.
    pub async fn begin(
        &self,
        issuer: &str,
        opts: &AuthOptions,
    ) -> Result<(String, LoginSession), RpError> {
        let p = self.provider(issuer).await?;
        let m = &p.metadata;
        let rt = opts.response_type.unwrap_or(ResponseType::CODE);
        if !m
            .response_types_supported
            .iter()
            .any(|s| ResponseType::parse(s).is_ok_and(|x| x == rt))
        {
            return Err(RpError::Unsupported("this response_type"));
        }
        let mode = opts.response_mode.map(|mo| mo.resolve(rt));
        if let Some(mo) = mode
            && !m.response_modes_supported.is_empty()
            && !m
                .response_modes_supported
                .iter()
                .any(|s| s == mo.as_str() || (mo.is_jwt() && s == "jwt"))
        {
            return Err(RpError::Unsupported("this response_mode"));
        }
        if mode == Some(ResponseMode::Query) && rt.is_front_channel_token() {
            // OAuth 2.0 Multiple Response Types §5: tokens never go in the query.
            return Err(RpError::Config(
                "response_mode=query cannot carry tokens".into(),
            ));
        }
        let state = random_token();
        let nonce = random_token();
        let verifier = rt.has_code().then(CodeVerifier::generate);
        let scope = scope_union(&self.config.scope, opts.scope.as_deref());
        let max_age = opts.max_age.map(|a| a.to_string());
        let mut pairs: Vec<(&str, Cow<'_, str>)> = vec![
            ("response_type", rt.to_string().into()),
            ("client_id", self.config.client_id.as_str().into()),
            ("redirect_uri", self.config.redirect_uri.as_str().into()),
            ("scope", scope.into()),
            ("state", state.as_str().into()),
            ("nonce", nonce.as_str().into()),
        ];
        if let Some(v) = &verifier {
            pairs.push((
                "code_challenge",
                CodeChallenge::s256(v).as_str().to_owned().into(),
            ));
            pairs.push(("code_challenge_method", "S256".into()));
        }
        if let Some(mo) = opts.response_mode {
            pairs.push(("response_mode", mo.as_str().into()));
        }
        for (k, v) in [
            ("max_age", max_age.as_deref()),
            ("prompt", opts.prompt.as_deref()),
            ("login_hint", opts.login_hint.as_deref()),
            ("acr_values", opts.acr_values.as_deref()),
            ("claims", opts.claims.as_deref()),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.into()));
            }
        }
        for (k, v) in &opts.extra {
            if pairs.iter().any(|(have, _)| *have == k.as_str())
                || k == "request"
                || k == "request_uri"
            {
                return Err(RpError::Config(format!(
                    "extension parameter {k} is a standard one"
                )));
            }
            pairs.push((k.as_str(), v.as_str().into()));
        }
        let mut params = Params::from_pairs(pairs);
        if opts.request_object {
            params = self.request_object(m, &params)?;
        }
        let query = if opts.par || m.require_pushed_authorization_requests {
            self.push(m, &params).await?
        } else {
            params.to_form()
        };
        let sep = if m.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}{query}", m.authorization_endpoint);
        let session = LoginSession {
            issuer: issuer.to_owned(),
            state,
            nonce,
            code_verifier: verifier.map(|v| v.as_str().to_owned()),
            redirect_uri: self.config.redirect_uri.clone(),
            response_type: rt.to_string(),
            response_mode: mode.unwrap_or(rt.default_mode()).as_str().to_owned(),
            max_age: opts.max_age,
        };
        Ok((url, session))
    }

    /// The parameters as a signed request object (RFC 9101 §4): every parameter is a claim, plus `iss` (us),
    /// `aud` (the issuer), `iat`, `exp`, `jti`; only `client_id`, `request` (and `response_type`, `scope`,
    /// `redirect_uri` for OIDC Core §6.1 compatibility) stay outside.
    fn request_object(&self, m: &ProviderMetadata, params: &Params) -> Result<Params, RpError> {
        let ClientAuth::PrivateKeyJwt(jwk) = &self.config.auth else {
            return Err(RpError::Config(
                "a request object needs the client's private key (--key)".into(),
            ));
        };
        if !m.request_parameter_supported {
            return Err(RpError::Unsupported("request objects"));
        }
        let (sk, alg) = signing_material(jwk)?;
        let mut claims = Map::new();
        for (k, v) in params.iter() {
            claims.insert(k.to_owned(), Value::from(v));
        }
        let now = jwt::NumericDate::now().as_secs();
        claims.insert("iss".into(), json!(self.config.client_id));
        claims.insert("aud".into(), json!(m.issuer));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        claims.insert("jti".into(), json!(random_token()));
        let request = jwt::encode_value(
            &jws::Header::new(alg).with_typ("oauth-authz-req+jwt"),
            &claims,
            &sk,
        )?;
        // The outer copies must equal the object's; providers that route errors before verifying the object
        // (ours among them) also want the redirect URI outside.
        let keep = |k: &str| params.get(k).unwrap_or("").to_owned();
        Ok(Params::from_pairs([
            ("client_id", keep("client_id").into()),
            ("response_type", keep("response_type").into()),
            ("scope", keep("scope").into()),
            ("redirect_uri", keep("redirect_uri").into()),
            ("request", request.into()),
        ]))
    }

    /// Pushes the request (RFC 9126) and returns the query for the authorization endpoint.
    async fn push(&self, m: &ProviderMetadata, params: &Params) -> Result<String, RpError> {
        let ep = m
            .pushed_authorization_request_endpoint
            .as_deref()
            .ok_or(RpError::Unsupported("pushed authorization requests"))?;
        let (auth_pairs, header) = self.client_authentication(&m.issuer)?.to_wire();
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in params.iter() {
                form.append_pair(k, v);
            }
            // `client_id` is already among the parameters.
            for (k, v) in auth_pairs.iter().filter(|(k, _)| *k != "client_id") {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let body = self
            .post_form("pushed_authorization_request_endpoint", ep, form, header)
            .await?;
        let request_uri = body
            .get("request_uri")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| RpError::Malformed {
                endpoint: "pushed_authorization_request_endpoint",
                reason: "no request_uri".into(),
            })?;
        Ok(Params::from_pairs([
            ("client_id", self.config.client_id.as_str().into()),
            ("request_uri", request_uri.into()),
        ])
        .to_form())
    }
}

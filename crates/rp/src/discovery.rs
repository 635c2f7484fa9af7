//! OpenID Provider discovery (OIDC Discovery §4): fetching and validating the configuration document, and the
//! per-issuer cache of discovered [`Provider`]s. Must not accept an issuer that is not configured, nor metadata
//! whose `issuer` differs from the one asked about.

use std::sync::Arc;

use portcullis_oidc::{MAX_METADATA_LEN, ProviderMetadata};

use crate::http;
use crate::{JwksCache, RelyingParty, RpError};

/// A discovered provider: its validated metadata and its key cache.
#[derive(Debug)]
pub struct Provider {
    /// The validated metadata.
    pub metadata: ProviderMetadata,
    /// Its keys.
    pub jwks: JwksCache,
}

impl RelyingParty {
    /// Fetches and validates `issuer`'s discovery document once (cached afterwards). The issuer must be
    /// configured; the document's `issuer` must equal it exactly.
    pub async fn provider(&self, issuer: &str) -> Result<Arc<Provider>, RpError> {
        if !self.config.issuers.iter().any(|i| i == issuer) {
            return Err(RpError::UnknownIssuer(issuer.to_owned()));
        }
        if let Some(p) = self.providers.read().await.get(issuer) {
            return Ok(p.clone());
        }
        let metadata = discover(&self.http, issuer).await?;
        let jwks = JwksCache::new(&metadata.jwks_uri, self.config.jwks_min_refetch);
        let p = Arc::new(Provider { metadata, jwks });
        self.providers
            .write()
            .await
            .insert(issuer.to_owned(), p.clone());
        Ok(p)
    }
}

/// Fetches `{issuer}/.well-known/openid-configuration` and validates it for `issuer` (OIDC Discovery §4.3:
/// the document's `issuer` must be exactly the one we asked about).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<ProviderMetadata, RpError> {
    const EP: &str = "discovery";
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let resp = http
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| http::http_error(EP, e))?;
    if !resp.status().is_success() {
        return Err(RpError::Status {
            endpoint: EP,
            status: resp.status().as_u16(),
        });
    }
    let body = http::read_limited(EP, resp, MAX_METADATA_LEN).await?;
    Ok(ProviderMetadata::parse_for(issuer, &body)?)
}

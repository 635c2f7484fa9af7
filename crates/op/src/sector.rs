//! A client's `sector_identifier_uri`, fetched when the client is registered (OIDC Core §8.1): the document
//! must be a JSON array of URIs that lists every one of the client's `redirect_uris`. Otherwise a client could
//! name another client's sector and receive the same pairwise `sub` for each user.
//!
//! The fetch is bounded: https only, [`FETCH_TIMEOUT`] for the whole exchange, at most
//! [`portcullis_oidc::MAX_SECTOR_DOCUMENT`] bytes and [`portcullis_oidc::MAX_SECTOR_URIS`] entries (the document
//! is parsed by [`portcullis_oidc::parse_sector_document`]), no redirects followed, and only a 200 answer counts.
//!
//! Must not: accept a document that does not list every redirect URI, or follow a redirect.

use std::time::Duration;

use portcullis_oidc::{
    MAX_SECTOR_DOCUMENT as MAX_DOCUMENT, parse_sector_document, unlisted_redirect_uri,
};

/// The longest a fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a sector document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectorError {
    /// The URI is not an https URL.
    #[error("sector_identifier_uri must be an https URL")]
    NotHttps,
    /// The fetch failed, timed out or did not answer 200.
    #[error("sector_identifier_uri could not be fetched: {0}")]
    Fetch(String),
    /// Larger than [`MAX_DOCUMENT`].
    #[error("the sector_identifier_uri document is larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    /// Not a JSON array of at most [`portcullis_oidc::MAX_SECTOR_URIS`] strings.
    #[error("the sector_identifier_uri document is not a JSON array of URIs")]
    Malformed,
    /// A redirect URI the document does not list.
    #[error("the sector_identifier_uri document does not list the redirect URI {0}")]
    Unlisted(String),
}

/// Fetches sector documents.
#[derive(Debug, Clone)]
pub struct SectorFetcher {
    http: reqwest::Client,
}

impl SectorFetcher {
    /// A fetcher trusting the public web PKI.
    pub fn new() -> Result<SectorFetcher, SectorError> {
        Self::build(reqwest::Client::builder())
    }

    /// A fetcher that also trusts `ca_pem` (a private PKI, or a test's own CA).
    pub fn with_root_certificate(ca_pem: &[u8]) -> Result<SectorFetcher, SectorError> {
        let ca = reqwest::Certificate::from_pem(ca_pem)
            .map_err(|e| SectorError::Fetch(format!("CA certificate: {e}")))?;
        Self::build(reqwest::Client::builder().add_root_certificate(ca))
    }

    fn build(b: reqwest::ClientBuilder) -> Result<SectorFetcher, SectorError> {
        let http = b
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| SectorError::Fetch(e.to_string()))?;
        Ok(SectorFetcher { http })
    }

    /// Fetches `uri` and checks that it lists every one of `redirect_uris` (compared exactly).
    pub async fn check(&self, uri: &str, redirect_uris: &[String]) -> Result<(), SectorError> {
        let url = url::Url::parse(uri).map_err(|_| SectorError::NotHttps)?;
        if url.scheme() != "https" {
            return Err(SectorError::NotHttps);
        }
        let mut resp = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| SectorError::Fetch(e.without_url().to_string()))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(SectorError::Fetch(format!("status {}", resp.status())));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(SectorError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| SectorError::Fetch(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(SectorError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let listed = parse_sector_document(&body).map_err(|_| SectorError::Malformed)?;
        match unlisted_redirect_uri(&listed, redirect_uris) {
            Some(missing) => Err(SectorError::Unlisted(missing.to_owned())),
            None => Ok(()),
        }
    }
}

//! Bounded HTTP helpers: bodies are read up to a limit, never whole.

use crate::RpError;

/// The most we read of a token or UserInfo response.
pub const MAX_RESPONSE_LEN: usize = 256 * 1024;

pub(crate) fn http_error(endpoint: &'static str, e: reqwest::Error) -> RpError {
    RpError::Http {
        endpoint,
        reason: e.without_url().to_string(),
    }
}

/// Reads a body, refusing it once it passes `limit` bytes.
pub(crate) async fn read_limited(
    endpoint: &'static str,
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, RpError> {
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(RpError::TooLarge { endpoint, limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_error(endpoint, e))? {
        if body.len() + chunk.len() > limit {
            return Err(RpError::TooLarge { endpoint, limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The media type of a response, lower-cased, without parameters.
pub(crate) fn media_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// An OAuth error body (`error`, `error_description`) if the body is one.
pub(crate) fn oauth_error(endpoint: &'static str, body: &[u8]) -> Option<RpError> {
    let m = portcullis_jose::parse_strict_object(body).ok()?;
    let error = portcullis_oidc::ErrorCode::parse(m.get("error")?.as_str()?)?;
    let description = m
        .get("error_description")
        .and_then(|d| d.as_str())
        .map(portcullis_oidc::sanitize_description);
    Some(RpError::Provider {
        endpoint,
        error,
        description,
    })
}

/// A random URL-safe token of 256 bits from the crypto backend's CSPRNG.
pub fn random_token() -> String {
    let mut octets = [0u8; 32];
    portcullis_jose::Backend::default()
        .fill_random(&mut octets)
        .expect("the system CSPRNG failed");
    portcullis_jose::base64url::encode(&octets)
}

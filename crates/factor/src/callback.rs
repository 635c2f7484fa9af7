//! The callback URL rule of step-up services: an application registers `https://app.com/Auth/Callback` and may
//! ask to come back to that URL with extra query parameters (`?r=/Home/Restricted`), and nothing else.
//!
//! Must not: accept a URL whose scheme, host, port or path differs from the registered one, or whose path hides dot
//! segments or an encoded `.`, `/` or `\`.

use url::Url;

/// Why a requested callback URL does not match the registered one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Not an absolute URL, or it has characters a browser would reinterpret (whitespace, controls, `\`).
    #[error("malformed callback URL")]
    Malformed,
    /// Dot segments or encoded `.`, `/` or `\` in the path.
    #[error("path tricks are not allowed")]
    PathTrick,
    /// A fragment (`#...`).
    #[error("fragments are not allowed")]
    Fragment,
    /// A user name or password before the host.
    #[error("userinfo is not allowed")]
    UserInfo,
    /// Scheme, host or port differ.
    #[error("scheme, host or port differ from the registered callback")]
    OriginMismatch,
    /// The path differs (compared exactly, case-sensitively).
    #[error("path differs from the registered callback")]
    PathMismatch,
    /// The registered query is not a prefix (at a parameter boundary) of the requested one.
    #[error("query does not extend the registered one")]
    QueryMismatch,
}

/// A registered callback URL.
///
/// ```
/// use portcullis_factor::RegisteredCallback;
/// let cb = RegisteredCallback::new("https://app.com/Auth/Callback").unwrap();
/// assert!(cb.matches("https://app.com/Auth/Callback?r=/Home/Restricted"));
/// assert!(!cb.matches("https://app.com.evil.example/Auth/Callback"));
/// assert!(!cb.matches("https://app.com/Auth/Callback/../../evil"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCallback {
    url: Url,
}

fn parse_strict(raw: &str) -> Result<Url, CallbackError> {
    if raw.is_empty() || raw.len() > 4096 {
        return Err(CallbackError::Malformed);
    }
    if raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(CallbackError::Malformed);
    }
    let url = Url::parse(raw).map_err(|_| CallbackError::Malformed)?;
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return Err(CallbackError::Malformed);
    }
    if raw.contains('#') {
        return Err(CallbackError::Fragment);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CallbackError::UserInfo);
    }
    // Look at the path as written, before the parser resolves anything.
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
    let raw_path = after_scheme[path_start..].split('?').next().unwrap_or("");
    let lower = raw_path.to_ascii_lowercase();
    let dot_segment = raw_path.split('/').any(|seg| seg == "." || seg == "..");
    if dot_segment
        || lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || raw_path.contains("//")
    {
        return Err(CallbackError::PathTrick);
    }
    // Encoded characters in the host (or anywhere before the path) are refused too.
    if after_scheme[..path_start].contains('%') {
        return Err(CallbackError::Malformed);
    }
    Ok(url)
}

impl RegisteredCallback {
    /// A registered callback (held to the same rules as requests: absolute, no fragment, no userinfo).
    pub fn new(registered: &str) -> Result<Self, CallbackError> {
        Ok(RegisteredCallback {
            url: parse_strict(registered)?,
        })
    }

    /// Checks a requested callback: same scheme, host and port (after normalising case and default ports), the
    /// same path exactly, and a query that starts with the registered one at a parameter boundary.
    pub fn check(&self, requested: &str) -> Result<(), CallbackError> {
        let req = parse_strict(requested)?;
        let reg = &self.url;
        if req.scheme() != reg.scheme()
            || req.host_str() != reg.host_str()
            || req.port_or_known_default() != reg.port_or_known_default()
        {
            return Err(CallbackError::OriginMismatch);
        }
        if req.path() != reg.path() {
            return Err(CallbackError::PathMismatch);
        }
        match (reg.query(), req.query()) {
            (None, _) => Ok(()),
            (Some(want), Some(got)) if got == want => Ok(()),
            (Some(want), Some(got))
                if got.starts_with(want) && got[want.len()..].starts_with('&') =>
            {
                Ok(())
            }
            _ => Err(CallbackError::QueryMismatch),
        }
    }

    /// Whether [`RegisteredCallback::check`] accepts `requested`.
    pub fn matches(&self, requested: &str) -> bool {
        self.check(requested).is_ok()
    }
}

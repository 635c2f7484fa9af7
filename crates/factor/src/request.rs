//! The step-up request an application sends the user's browser with (`GET /Factor/Authenticate?redirectUrl=...&
//! clientId=...&factors=email%20mobile_app`): parsed from the query string into typed values, with size limits.
//!
//! Must not: decide whether the callback is registered or the client exists (the provider does, with
//! [`crate::RegisteredCallback`] and its client registry), or accept a parameter given twice.

use crate::Factor;

/// The longest query string accepted, bytes.
pub const MAX_QUERY: usize = 8 * 1024;

/// Why a step-up request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactorRequestError {
    /// The query string is longer than [`MAX_QUERY`].
    #[error("request too large")]
    TooLarge,
    /// A parameter is not valid percent-encoded UTF-8, or holds control characters.
    #[error("malformed parameter {0}")]
    Malformed(&'static str),
    /// A required parameter is missing or empty.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// A parameter appears more than once (which one counts would be ambiguous).
    #[error("parameter {0} given more than once")]
    Repeated(&'static str),
    /// `factors` names a factor that does not exist.
    #[error("unknown factor {0:?}")]
    UnknownFactor(String),
    /// `factors` names the same factor twice.
    #[error("factor {} asked for twice", .0.key())]
    RepeatedFactor(Factor),
}

/// A parsed `/Factor/Authenticate` request.
///
/// ```
/// use portcullis_factor::{Factor, FactorRequest};
/// let r = FactorRequest::parse(
///     "redirectUrl=https%3A%2F%2Fapp.com%2FAuth%2FCallback%3Fr%3D%2FHome&clientId=app&factors=email%20mobile_app",
/// )
/// .unwrap();
/// assert_eq!(r.redirect_url, "https://app.com/Auth/Callback?r=/Home");
/// assert_eq!(r.client_id, "app");
/// assert_eq!(r.factors, [Factor::Email, Factor::MobileApp]);
/// assert!(FactorRequest::parse("redirectUrl=x&clientId=app&factors=fingerprint").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorRequest {
    /// `redirectUrl`: where the browser goes back to, with `auth_token` (or `error`) added.
    pub redirect_url: String,
    /// `clientId`: the application asking.
    pub client_id: String,
    /// `factors`: the factors to pass, in the order asked (space-separated keys, each once).
    pub factors: Vec<Factor>,
    /// `nonce` (optional): the application's value for this step-up, echoed in the Auth Token (1 to
    /// [`MAX_NONCE`] visible ASCII characters).
    pub nonce: Option<String>,
}

/// The longest `nonce`, characters.
pub const MAX_NONCE: usize = 128;

/// The names the request's parameters go by.
const REDIRECT_URL: &str = "redirectUrl";
const CLIENT_ID: &str = "clientId";
const FACTORS: &str = "factors";
const NONCE: &str = "nonce";

impl FactorRequest {
    /// Parses a query string (without the `?`). Other parameters are ignored; each of the three named ones must
    /// appear exactly once.
    pub fn parse(query: &str) -> Result<FactorRequest, FactorRequestError> {
        if query.len() > MAX_QUERY {
            return Err(FactorRequestError::TooLarge);
        }
        let (mut redirect_url, mut client_id, mut factors, mut nonce) = (None, None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(name) = decode(raw_name) else {
                continue;
            };
            let slot = match name.as_str() {
                REDIRECT_URL => (&mut redirect_url, REDIRECT_URL),
                CLIENT_ID => (&mut client_id, CLIENT_ID),
                FACTORS => (&mut factors, FACTORS),
                NONCE => (&mut nonce, NONCE),
                _ => continue,
            };
            let value = decode(raw_value).ok_or(FactorRequestError::Malformed(slot.1))?;
            if value.chars().any(char::is_control) {
                return Err(FactorRequestError::Malformed(slot.1));
            }
            if slot.0.replace(value).is_some() {
                return Err(FactorRequestError::Repeated(slot.1));
            }
        }
        let required = |v: Option<String>, name| {
            v.filter(|s| !s.is_empty())
                .ok_or(FactorRequestError::Missing(name))
        };
        let redirect_url = required(redirect_url, REDIRECT_URL)?;
        let client_id = required(client_id, CLIENT_ID)?;
        let mut list = Vec::new();
        for key in required(factors, FACTORS)?
            .split(' ')
            .filter(|k| !k.is_empty())
        {
            let f = Factor::from_key(key)
                .ok_or_else(|| FactorRequestError::UnknownFactor(key.chars().take(32).collect()))?;
            if list.contains(&f) {
                return Err(FactorRequestError::RepeatedFactor(f));
            }
            list.push(f);
        }
        if list.is_empty() {
            return Err(FactorRequestError::Missing(FACTORS));
        }
        if let Some(n) = &nonce
            && (n.is_empty() || n.len() > MAX_NONCE || !n.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(FactorRequestError::Malformed(NONCE));
        }
        Ok(FactorRequest {
            redirect_url,
            client_id,
            factors: list,
            nonce,
        })
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value (`+` is a space); `None` when the result
/// is not UTF-8 or a `%` is not followed by two hex digits.
fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "redirectUrl=http%3A%2F%2Fapp.com%2FHome%2FAuthCallback%3Fr%3D%2FHome%2FRestricted\
                      &clientId=app&factors=email%20mobile_app";

    #[test]
    fn parses_the_seed_example() {
        let r = FactorRequest::parse(OK).unwrap();
        assert_eq!(
            r.redirect_url,
            "http://app.com/Home/AuthCallback?r=/Home/Restricted"
        );
        assert_eq!(r.client_id, "app");
        assert_eq!(r.factors, [Factor::Email, Factor::MobileApp]);
        let plus = FactorRequest::parse(&OK.replace("%20", "+")).unwrap();
        assert_eq!(plus.factors, r.factors);
        let extra = FactorRequest::parse(&format!("{OK}&utm=1&x")).unwrap();
        assert_eq!(extra, r);
        assert_eq!(r.nonce, None);
        let n = FactorRequest::parse(&format!("{OK}&nonce=n-0S_9")).unwrap();
        assert_eq!(n.nonce.as_deref(), Some("n-0S_9"));
    }

    #[test]
    fn refuses_missing_repeated_and_unknown_values() {
        use FactorRequestError::*;
        let cases: &[(&str, FactorRequestError)] = &[
            ("clientId=app&factors=email", Missing("redirectUrl")),
            (
                "redirectUrl=&clientId=app&factors=email",
                Missing("redirectUrl"),
            ),
            ("redirectUrl=x&factors=email", Missing("clientId")),
            ("redirectUrl=x&clientId=app", Missing("factors")),
            (
                "redirectUrl=x&clientId=app&factors=%20+",
                Missing("factors"),
            ),
            (
                "redirectUrl=x&clientId=app&clientId=evil&factors=email",
                Repeated("clientId"),
            ),
            (
                "redirectUrl=x&redirectUrl=y&clientId=app&factors=email",
                Repeated("redirectUrl"),
            ),
            (
                "redirectUrl=x&clientId=app&factors=email&factors=sms",
                Repeated("factors"),
            ),
            (
                "redirectUrl=x&clientId=app&factors=email+retina",
                UnknownFactor("retina".into()),
            ),
            (
                "redirectUrl=x&clientId=app&factors=EMAIL",
                UnknownFactor("EMAIL".into()),
            ),
            (
                "redirectUrl=x&clientId=app&factors=email+sms+email",
                RepeatedFactor(Factor::Email),
            ),
            (
                "redirectUrl=%zz&clientId=app&factors=email",
                Malformed("redirectUrl"),
            ),
            (
                "redirectUrl=%E2%82&clientId=app&factors=email",
                Malformed("redirectUrl"),
            ),
            (
                "redirectUrl=x%0a&clientId=app&factors=email",
                Malformed("redirectUrl"),
            ),
            (
                "redirectUrl=x&clientId=a%00&factors=email",
                Malformed("clientId"),
            ),
            (
                "redirectUrl=x&clientId=app&factors=email%",
                Malformed("factors"),
            ),
        ];
        for (query, want) in cases {
            assert_eq!(FactorRequest::parse(query).as_ref(), Err(want), "{query}");
        }
        let huge = format!("{OK}&pad={}", "a".repeat(MAX_QUERY));
        assert_eq!(FactorRequest::parse(&huge), Err(TooLarge));
    }
}

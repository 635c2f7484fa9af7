//! Strict base64url (RFC 7515 §2, Appendix C): no padding, URL-safe alphabet, canonical trailing bits.
//!
//! Must not: accept padding, the standard `+` `/` alphabet, whitespace or non-zero trailing bits.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Part};

/// Decodes unpadded canonical base64url; anything else is [`Error::InvalidBase64`].
pub(crate) fn decode(input: &[u8], part: Part) -> Result<Vec<u8>, Error> {
    // URL_SAFE_NO_PAD refuses padding (`DecodePaddingMode::RequireNone`) and non-zero trailing bits.
    URL_SAFE_NO_PAD
        .decode(input)
        .map_err(|_| Error::InvalidBase64(part))
}

/// Decodes into a caller buffer (cleared first), avoiding an allocation on the hot path.
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>, part: Part) -> Result<(), Error> {
    out.clear();
    URL_SAFE_NO_PAD
        .decode_vec(input, out)
        .map_err(|_| Error::InvalidBase64(part))
}

/// Encodes without padding.
pub(crate) fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

/// Appends the encoding to `out`.
pub(crate) fn encode_to(input: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(input, out)
}

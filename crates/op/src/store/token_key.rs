//! Where a presented or issued secret (code, access token, refresh token) is stored: its [`TokenKey`], the
//! access tokens that name their grant ([`grant_access_token`]), and the constant-time comparison of a hash
//! kept on a grant.
//!
//! Pure computation on the token's text: must not touch the database.

/// Where a code, access token or refresh token is stored: `key` is the issue time the token carries (12 hex
/// digits of Unix milliseconds, see [`crate::new_token`]), a dot and the token's SHA-256; `legacy` is the bare
/// SHA-256 under which tokens were stored before time-ordered keys. Lookups try both, so tokens issued by
/// earlier versions keep working; new rows are stored under `key`.
///
/// An access token of the form `<grant id>.<secret>` ([`grant_access_token`]) is kept on its grant's row
/// instead: `grant` holds the grant id and the SHA-256 of the whole token, and lookups read that grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    /// The time-ordered key.
    pub key: String,
    /// The bare hash.
    pub legacy: String,
    /// For a token that names its grant: the grant id and the hash stored on the grant.
    pub grant: Option<(String, String)>,
}

/// A new access token kept on grant `grant_id` (see [`TokenKey`]): the grant id, a dot, and 32 random bytes
/// ([`crate::new_token`]).
pub fn grant_access_token(grant_id: &str) -> String {
    format!("{grant_id}.{}", crate::new_token())
}

impl TokenKey {
    /// The keys for a presented (or just issued) token.
    pub fn of(token: &str) -> TokenKey {
        let legacy = crate::hash(token);
        let key = match portcullis_jose::base64url::decode(token) {
            Ok(b) if b.len() == 32 => {
                let mut ms = [0u8; 8];
                ms[2..].copy_from_slice(&b[..6]);
                format!("{:012x}.{legacy}", u64::from_be_bytes(ms))
            }
            // Not one of ours: no time to read; the lookup under the bare hash finds nothing either.
            _ => legacy.clone(),
        };
        // `<grant id>.<secret>`: a time-ordered grant id (12 hex digits, 22 base64url characters) and 43
        // base64url characters of 32 bytes.
        let grant = token.split_once('.').and_then(|(id, secret)| {
            let time_ordered = id.len() == 34
                && id[..12].bytes().all(|b| b.is_ascii_hexdigit())
                && portcullis_jose::base64url::decode(&id[12..]).is_ok_and(|b| b.len() == 16);
            let secret_ok = portcullis_jose::base64url::decode(secret).is_ok_and(|b| b.len() == 32);
            (time_ordered && secret_ok).then(|| (id.to_owned(), legacy.clone()))
        });
        TokenKey { key, legacy, grant }
    }

    /// The keys to try, in order: the time-ordered one, then the bare hash when it differs. Lookups ask for
    /// the second only when the first finds nothing, so current tokens cost one index probe.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str())
            .chain((self.legacy != self.key).then_some(self.legacy.as_str()))
    }
}

/// Whether the hash stored on a grant is the presented token's (constant time: no timing tells how much of a
/// guessed token's hash matched).
pub(super) fn grant_token_matches(stored: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    stored.len() == presented.len() && bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tokens_are_32_bytes_and_their_keys_sort_by_issue_time() {
        let before = crate::unix_millis();
        let a = crate::new_token();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = crate::new_token();
        assert_eq!(a.len(), 43);
        assert_eq!(portcullis_jose::base64url::decode(&a).unwrap().len(), 32);
        assert_ne!(a[8..], b[8..], "the random part differs");
        let (ka, kb) = (TokenKey::of(&a), TokenKey::of(&b));
        assert!(ka.key < kb.key, "{} < {}", ka.key, kb.key);
        let ms = u64::from_str_radix(&ka.key[..12], 16).unwrap();
        assert!(ms >= before && ms <= before + 1000, "{ms} vs {before}");
        assert_eq!(&ka.key[12..13], ".");
        assert_eq!(ka.key[13..], ka.legacy);
        assert_eq!(ka.legacy, crate::hash(&a));
        // Deterministic: the same token always finds the same row.
        assert_eq!(TokenKey::of(&a), ka);
    }

    #[test]
    fn foreign_tokens_have_only_the_bare_hash() {
        for t in ["", "not base64!", "c2hvcnQ", &"A".repeat(44)] {
            let k = TokenKey::of(t);
            assert_eq!(k.key, k.legacy, "{t:?}");
            assert_eq!(k.legacy, crate::hash(t));
        }
    }

    #[test]
    fn time_ordered_ids_sort_by_creation() {
        let a = crate::time_ordered_id();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = crate::time_ordered_id();
        assert!(a < b);
        assert_eq!(a.len(), 12 + 22);
    }
}

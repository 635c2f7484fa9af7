//! What a login session records of how the user authenticated: each login method passed, and when. This is
//! the source of the ID token's `amr`, `acr` and `auth_time` (with [`super::Methods`], which knows what each
//! method proves), and what step-up ([`super::policy`]) compares a request's needs against.
//!
//! Stored in the session row as text, `method@unix-time` entries separated by spaces, oldest first; one entry
//! per method (passing a method again moves it to the end with the new time).
//!
//! Must not: trust its stored text beyond its limits: a malformed or oversized entry is dropped, never
//! interpreted.

/// At most this many steps are kept (the oldest go first).
pub const MAX_STEPS: usize = 8;
/// Longest method id.
pub const MAX_METHOD_ID: usize = 32;

/// One login method passed in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The method's id ([`super::LoginMethod::id`]).
    pub method: String,
    /// When it was passed (Unix seconds).
    pub at: i64,
}

/// The methods a session's user passed, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthRecord {
    steps: Vec<Step>,
}

/// Whether `id` can be a method id: 1 to [`MAX_METHOD_ID`] of `a-z`, `0-9`, `_`, `-`.
pub fn valid_method_id(id: &str) -> bool {
    (1..=MAX_METHOD_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl AuthRecord {
    /// A record of one step.
    pub fn single(method: &str, at: i64) -> AuthRecord {
        AuthRecord::default().with(method, at)
    }

    /// Parses the stored text; malformed entries are dropped, and only the newest [`MAX_STEPS`] kept.
    pub fn parse(text: &str) -> AuthRecord {
        let mut r = AuthRecord::default();
        for entry in text.split(' ').take(4 * MAX_STEPS) {
            let Some((method, at)) = entry.split_once('@') else {
                continue;
            };
            let Ok(at) = at.parse::<i64>() else {
                continue;
            };
            if valid_method_id(method) && at >= 0 {
                r = r.with(method, at);
            }
        }
        r
    }

    /// The stored text.
    pub fn encode(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("{}@{}", s.method, s.at))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// This record with `method` passed at `at` (replacing an earlier pass of the same method).
    pub fn with(&self, method: &str, at: i64) -> AuthRecord {
        let mut steps: Vec<Step> = self
            .steps
            .iter()
            .filter(|s| s.method != method)
            .cloned()
            .collect();
        steps.push(Step {
            method: method.to_owned(),
            at,
        });
        if steps.len() > MAX_STEPS {
            steps.drain(..steps.len() - MAX_STEPS);
        }
        AuthRecord { steps }
    }

    /// The steps passed at or after `t` (for `max_age`: only recent authentication counts).
    pub fn since(&self, t: i64) -> AuthRecord {
        AuthRecord {
            steps: self.steps.iter().filter(|s| s.at >= t).cloned().collect(),
        }
    }

    /// The steps, oldest first.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether no step was recorded.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The time of the newest step: the ID token's `auth_time`.
    pub fn auth_time(&self) -> Option<i64> {
        self.steps.iter().map(|s| s.at).max()
    }

    /// Whether `method` was passed.
    pub fn has(&self, method: &str) -> bool {
        self.steps.iter().any(|s| s.method == method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_one_entry_per_method() {
        let r = AuthRecord::single("password", 10)
            .with("otp", 20)
            .with("password", 30);
        assert_eq!(r.encode(), "otp@20 password@30");
        assert_eq!(AuthRecord::parse(&r.encode()), r);
        assert_eq!(r.auth_time(), Some(30));
        assert!(r.has("otp") && r.has("password") && !r.has("passkey"));
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in [
            "",
            "password",
            "password@",
            "@5",
            "PASS@5",
            "pass.word@5",
            "p@-1",
            "p@1e3",
            "p@5@6",
        ] {
            assert!(AuthRecord::parse(bad).is_empty(), "{bad:?}");
        }
        let long = "a".repeat(MAX_METHOD_ID + 1);
        assert!(AuthRecord::parse(&format!("{long}@5")).is_empty());
        assert_eq!(AuthRecord::parse("x@1 junk y@2").encode(), "x@1 y@2");
        assert_eq!(
            AuthRecord::parse("pass word@5").encode(),
            "word@5",
            "a space separates entries"
        );
    }

    #[test]
    fn keeps_at_most_max_steps() {
        let text: Vec<String> = (0..100).map(|i| format!("m{i}@{i}")).collect();
        let r = AuthRecord::parse(&text.join(" "));
        assert_eq!(r.steps().len(), MAX_STEPS);
    }

    #[test]
    fn since_counts_only_recent_steps() {
        let r = AuthRecord::single("password", 10).with("otp", 100);
        assert_eq!(r.since(50).encode(), "otp@100");
        assert!(r.since(101).is_empty());
    }
}

//! Password hashing with Argon2id, stored as PHC strings.
//!
//! Parameters: 46 MiB, 1 pass, 1 lane — the first of OWASP's equivalent Argon2id settings (the `argon2` crate's
//! default, 19 MiB and 2 passes, is another). This one is chosen so that a login's buffer goes back to the
//! system right after the hash, whichever allocator the program uses: it is above glibc's largest dynamic mmap
//! threshold (32 MiB), so glibc maps and unmaps it every time (a 19 MiB buffer raises the threshold on first
//! free and then stays resident for the life of the process), and above jemalloc's oversize threshold (8 MiB),
//! whose dedicated arena purges at once (`portcullis-provider` runs on jemalloc). Stored hashes keep their own
//! parameters: older 19 MiB hashes still verify.
//!
//! Hashing is memory-hard on purpose, so concurrent verifications are bounded (one per CPU): a burst of login
//! attempts queues instead of allocating 46 MiB each at once. The queue is bounded too (each provider admits at
//! most [`QUEUE_PER_CPU`] attempts per CPU at once, `Throttle::admit`); an attempt that finds it full is
//! answered 503 with `Retry-After` at once, so a flood of bogus attempts cannot make a real one wait behind it.
//!
//! [`PasswordLogin`] is the login method over these hashes.
//!
//! Must not: keep or log a password, or answer faster for unknown users.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params as ArgonParams, Version};
use futures_core::future::BoxFuture;
use portcullis_oidc::Params;

use super::{Factor, LoginMethod, LoginPage};
use crate::pages;
use crate::store::{Store, StoreError, UserRow};

/// Username and password, verified against Argon2id hashes off the async runtime.
pub struct PasswordLogin;

impl LoginMethod for PasswordLogin {
    fn id(&self) -> &'static str {
        "password"
    }

    fn factor(&self) -> Factor {
        Factor::Knowledge
    }

    fn amr(&self) -> &'static [&'static str] {
        &["pwd"]
    }

    fn acr(&self) -> &'static str {
        "urn:portcullis:acr:password"
    }

    fn form(&self, page: &LoginPage<'_>) -> String {
        pages::password_inputs(page.login_hint)
    }

    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        _state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            let username = form.get("username").unwrap_or("");
            let password = form.get("password").unwrap_or("").to_owned();
            let user = store.user_by_name(username).await?;
            let stored = user.as_ref().map(|u| u.password_hash.clone());
            let ok = verify_bounded(password, stored).await;
            Ok(user.filter(|_| ok))
        })
    }

    fn failure_message(&self) -> &'static str {
        "Wrong username or password."
    }
}

/// Argon2id memory cost in KiB (46 MiB).
pub const MEMORY_KIB: u32 = 47_104;
/// Argon2id passes.
pub const PASSES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = ArgonParams::new(MEMORY_KIB, PASSES, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    portcullis_jose::Backend::default()
        .fill_random(&mut salt)
        .map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A PHC string nobody's password matches (same parameters as [`hash`]), verified when the user does not
/// exist so that unknown and known usernames take the same time.
const DUMMY: &str = "$argon2id$v=19$m=47104,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$+8v1F5Yhh4qVdmEnaXEuTPlmUxd3RXw7mBLA/B9ugb4";

/// Verifies a password against a stored hash (`None`: no such user; still spends the same effort).
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (DUMMY, false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        // A user without a password (passkey only): spend the same effort as for anyone else, then refuse.
        verify(password, None);
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// Attempts admitted per CPU (running or waiting for a verification slot): see
/// [`crate::authn::throttle::Throttle::admit`].
pub const QUEUE_PER_CPU: usize = 4;

/// The CPUs verifications may use at once.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(cpus()))
}

/// [`verify`] off the async runtime, at most one verification per CPU at a time.
pub async fn verify_bounded(password: String, stored: Option<String>) -> bool {
    let Ok(_permit) = permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify(&password, stored.as_deref()))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=47104,t=1,p=1$"), "{h}");
        assert!(verify("correct horse", Some(&h)));
        assert!(!verify("correct horsf", Some(&h)));
        assert!(!verify("correct horse", None), "no user: never true");
        assert!(!verify("x", Some("not a phc string")));
    }

    #[test]
    fn older_19_mib_hashes_still_verify() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(old.contains("m=19456,t=2,p=1"));
        assert!(verify("pw", Some(&old)));
        assert!(!verify("pv", Some(&old)));
    }

    #[test]
    fn dummy_has_the_current_parameters_and_matches_nothing() {
        let p = PasswordHash::new(DUMMY).unwrap();
        assert_eq!(p.params.get_decimal("m"), Some(MEMORY_KIB));
        assert_eq!(p.params.get_decimal("t"), Some(PASSES));
        for pw in ["", "password", "demo"] {
            assert!(!verify(pw, Some(DUMMY)));
        }
    }

    #[tokio::test]
    async fn bounded_verification_agrees() {
        let h = hash("pw").unwrap();
        let runs: Vec<_> = (0..6)
            .map(|i| verify_bounded(if i % 2 == 0 { "pw" } else { "no" }.into(), Some(h.clone())))
            .collect();
        let mut out = Vec::new();
        for r in runs {
            out.push(r.await);
        }
        assert_eq!(out, [true, false, true, false, true, false]);
    }
}

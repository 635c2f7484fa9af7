//! `mobile_app`: a code from an authenticator app (TOTP, RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one
//! step of clock drift either way), through the `totp-rs` crate. The seed (160 bits from the CSPRNG) is shown
//! once on the account page as an `otpauth://` URI and a QR code, confirmed with a first code, and kept sealed.
//! Each accepted code records its time step, and a step at or before the newest accepted is refused, so a code
//! (or an older one) is never accepted twice — on any node.
//!
//! Must not: accept a code of a set-up not yet confirmed, or one whose step was used.

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

use super::is_code;
use crate::authn::{Factor, LoginMethod, LoginPage};
use crate::factor_pages;
use crate::store::{Store, StoreError, UserRow};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const STEP: u64 = 30;
/// Seed length, bytes (RFC 4226 §4 recommends 160 bits).
const SEED_BYTES: usize = 20;

/// A fresh seed, base32 (as authenticator apps take it).
pub fn new_seed() -> Result<String, String> {
    let mut raw = [0u8; SEED_BYTES];
    portcullis_jose::Backend::default()
        .fill_random(&mut raw)
        .map_err(|e| e.to_string())?;
    match Secret::Raw(raw.to_vec()).to_encoded() {
        Secret::Encoded(s) => Ok(s),
        Secret::Raw(_) => Err("base32 encoding failed".into()),
    }
}

/// The TOTP generator of a base32 seed, labelled for an app as `issuer:account` (`:` removed from both).
fn generator(seed: &str, issuer: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(seed.to_owned()).to_bytes().ok()?;
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP,
        bytes,
        Some(issuer.replace(':', "")),
        account.replace(':', ""),
    )
    .ok()
}

/// The `otpauth://totp/...` URI an authenticator app scans.
pub fn otpauth_uri(seed: &str, issuer: &str, account: &str) -> Option<String> {
    generator(seed, issuer, account).map(|t| t.get_url())
}

/// The code of `seed` at time `t` (for tests and the account page's own checks).
pub fn code_at(seed: &str, t: u64) -> Option<String> {
    generator(seed, "x", "x").map(|g| g.generate(t))
}

/// The time step for which `code` is right at `now`: the current step, or one either side (clock drift).
pub fn matching_step(seed: &str, code: &str, now: i64) -> Option<i64> {
    if !is_code(code) {
        return None;
    }
    let g = generator(seed, "x", "x")?;
    let now = u64::try_from(now).ok()?;
    let current = now / STEP;
    let mut found = None;
    // Every candidate is computed and compared, in constant time, whichever matches.
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = g.generate(step * STEP);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = i64::try_from(step).ok();
        }
    }
    found
}

/// The authenticator-app code as a login method (step-up only).
pub struct AppCodeLogin;

impl LoginMethod for AppCodeLogin {
    fn id(&self) -> &'static str {
        "mobile_app"
    }

    fn factor(&self) -> Factor {
        Factor::Possession
    }

    fn amr(&self) -> &'static [&'static str] {
        &["otp"]
    }

    fn acr(&self) -> &'static str {
        "urn:portcullis:acr:mobile_app"
    }

    fn first_factor(&self) -> bool {
        false
    }

    fn form(&self, page: &LoginPage<'_>) -> String {
        factor_pages::app_code_inputs(page.user.map(|u| u.username.as_str()).unwrap_or(""))
    }

    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        _state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            let Some(user) = store
                .user_by_name(form.get("username").unwrap_or(""))
                .await?
            else {
                return Ok(None);
            };
            let Some(factor) = store.factor(&user.id, "mobile_app").await? else {
                return Ok(None);
            };
            let code = form.get("code").unwrap_or("").trim();
            let Some(step) = matching_step(&factor.secret, code, crate::now()) else {
                return Ok(None);
            };
            // Newer than every step accepted before, atomically: a replayed code gets nothing.
            Ok(store
                .accept_totp_step(&user.id, "mobile_app", step)
                .await?
                .then_some(user))
        })
    }

    fn failure_message(&self) -> &'static str {
        "Wrong or already used code. Wait for the next code in your app and try again."
    }

    fn enrolled<'a>(
        &'a self,
        store: &'a Store,
        user: &'a UserRow,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(store.factor(&user.id, "mobile_app").await?.is_some()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890", 8 digits there; the last 6 here.
        let seed = match Secret::Raw(b"12345678901234567890".to_vec()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!(),
        };
        for (t, code8) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(&seed, t).unwrap(), code8[2..], "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_and_nothing_else() {
        let seed = new_seed().unwrap();
        let now = 1_800_000_015;
        let step = now / 30;
        for (offset, want) in [(-1i64, true), (0, true), (1, true), (-2, false), (2, false)] {
            let t = u64::try_from((step + offset) * 30).unwrap();
            let code = code_at(&seed, t).unwrap();
            let got = matching_step(&seed, &code, now);
            assert_eq!(got.is_some(), want, "offset {offset}");
            if want {
                assert_eq!(got, Some(step + offset));
            }
        }
        assert_eq!(matching_step(&seed, "12345", now), None);
        assert_eq!(matching_step(&seed, "abcdef", now), None);
    }

    #[test]
    fn otpauth_uri_names_issuer_and_account() {
        let seed = new_seed().unwrap();
        assert_eq!(seed.len(), 32);
        let uri = otpauth_uri(&seed, "Portcullis", "al:ice").unwrap();
        assert!(uri.starts_with("otpauth://totp/Portcullis:alice?"), "{uri}");
        assert!(uri.contains(&format!("secret={seed}")), "{uri}");
    }
}

//! The step-up factors: login methods that prove a known user passed one more factor, and are never a first
//! factor ([`LoginMethod::first_factor`] is false). Their ids are the factor keys of `/Factor/Authenticate`
//! (`portcullis_factor::Factor::key`), so the same methods serve OpenID Connect step-up (`acr_values`) and the
//! Auth Token endpoint.
//!
//! - [`app`]: `mobile_app`, a code from an authenticator app (TOTP, RFC 6238); a code is never accepted twice.
//! - [`code`]: `email` and `sms`, a code sent to a verified address or number: 6 digits from the CSPRNG,
//!   single use, expiring after [`CODE_LIFETIME`] seconds, at most [`MAX_CODE_ATTEMPTS`] tries, resent at most
//!   every [`RESEND_AFTER`] seconds.
//! - [`second_password`]: `second_password`, checked against an Argon2id hash.
//!
//! Must not: sign anyone in alone, or accept a code for a user other than the one it was made for.

use std::sync::Arc;

use super::LoginMethod;
use crate::delivery::Delivery;

pub mod app;
pub mod code;
pub mod second_password;

pub use app::AppCodeLogin;
pub use code::{Channel, CodeLogin};
pub use second_password::SecondPasswordLogin;

/// How long a sent code works, seconds.
pub const CODE_LIFETIME: i64 = 300;
/// Tries one sent code allows.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// The least time between two codes sent to one user for one purpose, seconds.
pub const RESEND_AFTER: i64 = 30;

/// The step-up factors, in the order a page lists them: authenticator app, e-mail, SMS, second password.
pub fn step_up_methods(delivery: &Delivery) -> Vec<Box<dyn LoginMethod>> {
    vec![
        Box::new(AppCodeLogin),
        Box::new(CodeLogin::new(Channel::Email, Arc::clone(&delivery.mail))),
        Box::new(CodeLogin::new(Channel::Sms, Arc::clone(&delivery.sms))),
        Box::new(SecondPasswordLogin),
    ]
}

/// A fresh 6-digit code from the CSPRNG (uniform: rejection sampling over 32-bit draws).
pub fn new_code() -> Result<String, String> {
    const LIMIT: u32 = u32::MAX - (u32::MAX % 1_000_000);
    loop {
        let mut b = [0u8; 4];
        portcullis_jose::Backend::default()
            .fill_random(&mut b)
            .map_err(|e| e.to_string())?;
        let n = u32::from_le_bytes(b);
        if n < LIMIT {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// Whether `s` looks like a 6-digit code (what the code inputs accept; anything else is refused unread).
pub fn is_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An address or number with most of it hidden, for pages: `j***@example.com`, `***4567`.
pub fn masked(destination: &str) -> String {
    match destination.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => {
            let n = destination.chars().count();
            let tail: String = destination.chars().skip(n.saturating_sub(4)).collect();
            format!("***{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = new_code().unwrap();
            assert!(is_code(&c), "{c}");
        }
        for bad in ["", "12345", "1234567", "12345a", " 123456", "１２３４５６"] {
            assert!(!is_code(bad), "{bad:?}");
        }
    }

    #[test]
    fn masks_addresses_and_numbers() {
        assert_eq!(masked("jane@example.com"), "j***@example.com");
        assert_eq!(masked("+15551234567"), "***4567");
        assert_eq!(masked("12"), "***12");
    }
}

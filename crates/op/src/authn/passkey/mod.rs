//! Passkeys (WebAuthn Level 3, through webauthn-rs) as a login method: a ceremony of two steps.
//!
//! 1. `begin`: a challenge for the browser. With a username typed, the challenge names that user's passkeys
//!    (`allowCredentials`, for browsers that cannot discover credentials); without one, any discoverable
//!    credential of this relying party may answer. The verifier's state is kept server-side by the ceremony
//!    store (single use, bound to the pending request, the browser and this method, expiring).
//! 2. `verify`: the browser's assertion (posted by `/passkey.js` as the `credential` field) is checked against
//!    that state: origin and RP ID, challenge, signature, user verification (required), and the sign counter —
//!    one that went backwards is refused and the credential marked as a possible clone.
//!
//! The relying party ID is the issuer's host (or a configured registrable suffix of it) and the origin the
//! issuer's (and configured extra ones). Registering passkeys is the `registration` submodule's. A pass is recorded as
//! `passkey` (device-bound), [`SYNCED`] or [`ATTESTED`], which say different `amr` and satisfy different `acr`
//! values by the configured policy.
//!
//! Must not: accept an assertion without user verification, for another relying party or origin, or for a
//! credential whose user handle is not the stored one; or keep anything of the ceremony in the browser.

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AttestationCaList, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::{Challenge, Factor, LoginMethod, LoginPage};

mod registration;
use crate::store::{PasskeyRow, Store, StoreError, UserRow};
use crate::templates::{PasskeyAssertion, PasskeyButton, PasskeyConditional, render};
pub use registration::{NewPasskey, Registration, attestation_cas};

/// The `acr` of a sign-in with a passkey alone (user verification included).
pub const PASSKEY_ACR: &str = "urn:portcullis:acr:passkey";

/// The `acr` of a sign-in with a device-bound passkey (one that cannot leave its authenticator: not backup
/// eligible). A synced passkey never satisfies it.
pub const DEVICE_BOUND_ACR: &str = "urn:portcullis:acr:passkey:device-bound";

/// The `acr` a synced passkey claims where only device-bound passkeys count for [`PASSKEY_ACR`]
/// (`passkeys_device_bound_for`): less than a passkey sign-in as configured.
pub const SYNCED_ACR: &str = "urn:portcullis:acr:passkey:synced";

/// The `acr` of a sign-in with a passkey registered with a verified attestation (its authenticator's make
/// chained to a configured attestation CA). Only such a passkey satisfies it, and the `acr` values listed in
/// `passkeys_attested_for`.
pub const ATTESTED_ACR: &str = "urn:portcullis:acr:passkey:attested";

/// The id a sign-in with an attested passkey is recorded under.
pub const ATTESTED: &str = "passkey-attested";

/// The id a sign-in with a synced passkey is recorded under (its `amr` says `swk`, not `hwk`).
pub const SYNCED: &str = "passkey-synced";

/// The largest assertion accepted from the browser, bytes.
pub const MAX_ASSERTION: usize = 16 * 1024;

/// The passkey login method.
pub struct PasskeyLogin {
    webauthn: Webauthn,
    origin: Url,
    /// The `acr` values a synced passkey does not satisfy ([`DEVICE_BOUND_ACR`] always among them).
    device_bound_for: Vec<String>,
    /// The attestation CAs that attested registrations must chain to, when configured.
    attestation: Option<AttestationCaList>,
    /// The `acr` values only an attested passkey satisfies ([`ATTESTED_ACR`] always among them).
    attested_for: Vec<String>,
}

/// What the server keeps between the two steps.
#[derive(Serialize, Deserialize)]
enum Ceremony {
    /// Any discoverable credential may answer.
    Discoverable(DiscoverableAuthentication),
    /// Only the passkeys of this user (username first).
    User(String, PasskeyAuthentication),
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("passkey: {what}"))
}

/// A credential id as stored: base64url.
pub fn credential_id_text(id: &[u8]) -> String {
    portcullis_jose::base64url::encode(id)
}

impl PasskeyLogin {
    /// The method for a provider at `issuer`: the relying party ID is its host, the origin its origin.
    pub fn for_issuer(issuer: &str) -> Result<PasskeyLogin, String> {
        PasskeyLogin::new(issuer, None, &[])
    }

    /// The method as the configuration says: [`Config::passkeys_rp_id`](crate::Config::passkeys_rp_id),
    /// [`passkeys_origins`](crate::Config::passkeys_origins) and
    /// [`passkeys_device_bound_for`](crate::Config::passkeys_device_bound_for).
    pub fn from_config(cfg: &crate::Config) -> Result<PasskeyLogin, String> {
        let method = PasskeyLogin::new(
            &cfg.issuer,
            cfg.passkeys_rp_id.as_deref(),
            &cfg.passkeys_origins,
        )?
        .device_bound_for(&cfg.passkeys_device_bound_for);
        let Some(path) = &cfg.passkeys_attestation_ca else {
            if !cfg.passkeys_attested_for.is_empty() {
                return Err(
                    "passkeys_attested_for needs passkeys_attestation_ca (no passkey could satisfy it)"
                        .into(),
                );
            }
            return Ok(method);
        };
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("passkeys_attestation_ca {}: {e}", path.display()))?;
        let cas = attestation_cas(&pem)
            .map_err(|e| format!("passkeys_attestation_ca {}: {e}", path.display()))?;
        Ok(method.with_attestation(cas, &cfg.passkeys_attested_for))
    }

    /// This method with attested registrations: an authenticator whose attestation chains to one of `cas`
    /// may register an attested passkey (the account page offers it), and only such a passkey satisfies
    /// [`ATTESTED_ACR`] and `acrs`.
    pub fn with_attestation(mut self, cas: AttestationCaList, acrs: &[String]) -> PasskeyLogin {
        self.attestation = Some(cas);
        for a in acrs {
            if !self.attested_for.contains(a) {
                self.attested_for.push(a.clone());
            }
        }
        self
    }

    /// Whether attested registrations are configured.
    pub fn offers_attestation(&self) -> bool {
        self.attestation.is_some()
    }

    /// The method for a provider at `issuer`, with relying party ID `rp_id` (default: the issuer's host; it
    /// must be that host or a registrable suffix of it, WebAuthn §5.1.4.1) and `extra_origins` allowed besides
    /// the issuer's (each an origin whose host is `rp_id` or under it).
    pub fn new(
        issuer: &str,
        rp_id: Option<&str>,
        extra_origins: &[String],
    ) -> Result<PasskeyLogin, String> {
        let url = Url::parse(issuer).map_err(|e| format!("issuer: {e}"))?;
        // WebAuthn relying party IDs are domain names: an IP address cannot be one.
        let host = url
            .domain()
            .ok_or("passkeys need a domain name as the issuer's host (for development: localhost, not 127.0.0.1)")?;
        let rp_id = rp_id.filter(|r| !r.is_empty()).unwrap_or(host).to_owned();
        // A public suffix cannot be a relying party ID (browsers refuse `com`); one label only for localhost.
        if rp_id != "localhost" && !rp_id.trim_end_matches('.').contains('.') {
            return Err(format!(
                "passkeys_rp_id {rp_id:?} must be a registrable domain, not a top-level one"
            ));
        }
        let under = |h: &str| h == rp_id || h.ends_with(&format!(".{rp_id}"));
        if !under(host) {
            return Err(format!(
                "passkeys_rp_id {rp_id:?} must be the issuer's host or a suffix of it"
            ));
        }
        let origin = Url::parse(&url.origin().ascii_serialization())
            .map_err(|e| format!("issuer origin: {e}"))?;
        let mut builder = WebauthnBuilder::new(&rp_id, &origin)
            .map(|b| b.rp_name("Portcullis"))
            .map_err(|e| format!("passkeys: {e}"))?;
        for o in extra_origins {
            let extra = Url::parse(o).map_err(|e| format!("passkeys_origins {o:?}: {e}"))?;
            let local = extra
                .domain()
                .is_some_and(|h| h == "localhost" || h.ends_with(".localhost"));
            if extra.origin().ascii_serialization() != o.trim_end_matches('/')
                || !extra.domain().is_some_and(under)
                || (extra.scheme() != "https" && !local)
            {
                return Err(format!(
                    "passkeys_origins {o:?}: an https origin (scheme, host, port) whose host is {rp_id} or under it"
                ));
            }
            builder = builder.append_allowed_origin(&extra);
        }
        let webauthn = builder.build().map_err(|e| format!("passkeys: {e}"))?;
        Ok(PasskeyLogin {
            webauthn,
            origin,
            device_bound_for: vec![DEVICE_BOUND_ACR.to_owned()],
            attestation: None,
            attested_for: vec![ATTESTED_ACR.to_owned()],
        })
    }

    /// This method with a policy: a synced passkey (backup eligible) does not satisfy any of `acrs` (say
    /// [`PASSKEY_ACR`], or the second factor's `acr`); a device-bound one must be used for them.
    /// [`DEVICE_BOUND_ACR`] is always among them.
    pub fn device_bound_for(mut self, acrs: &[String]) -> PasskeyLogin {
        for a in acrs {
            if !self.device_bound_for.contains(a) {
                self.device_bound_for.push(a.clone());
            }
        }
        self
    }

    /// The origin assertions must come from.
    pub fn origin(&self) -> &Url {
        &self.origin
    }

    /// Begins a ceremony any discoverable credential of this relying party may answer, for passkey autofill
    /// on the login page (WebAuthn conditional mediation): the state to keep server-side (as this method's, so
    /// `verify` finishes it) and the inputs of a hidden form that `/passkey.js` fills and posts.
    pub fn begin_conditional(&self) -> Result<Challenge, StoreError> {
        let (rcr, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| corrupt(&e.to_string()))?;
        let options = serde_json::to_string(&rcr).map_err(|_| corrupt("options"))?;
        let state =
            serde_json::to_string(&Ceremony::Discoverable(state)).map_err(|_| corrupt("state"))?;
        Ok(Challenge {
            state,
            form: render(&PasskeyConditional { options: &options }),
        })
    }

    /// Checks an assertion against the kept state; the credential that signed it and whether it is synced
    /// (backup eligible: the key may live outside one device), on success.
    async fn check(
        &self,
        store: &Store,
        answer: &PublicKeyCredential,
        ceremony: Ceremony,
    ) -> Result<Option<(PasskeyRow, &'static str)>, StoreError> {
        let used_id = credential_id_text(answer.get_credential_id());
        let Some(row) = store.passkey(&used_id).await? else {
            tracing::info!(credential = %used_id, "passkey assertion for an unknown credential");
            return Ok(None);
        };
        if row.suspect_clone {
            tracing::info!(credential = %used_id, "passkey marked as a possible clone");
            return Ok(None);
        }
        let mut passkey: Passkey =
            serde_json::from_str(&row.credential).map_err(|_| corrupt("credential"))?;
        let result = match ceremony {
            Ceremony::Discoverable(state) => {
                // The user handle the authenticator returned must be the one stored with the credential.
                let Ok((handle, _)) = self.webauthn.identify_discoverable_authentication(answer)
                else {
                    tracing::info!(credential = %used_id, "passkey assertion without a user handle");
                    return Ok(None);
                };
                if handle.to_string() != row.user_handle {
                    tracing::info!(credential = %used_id, "passkey assertion for another user handle");
                    return Ok(None);
                }
                self.webauthn
                    .finish_discoverable_authentication_v2(answer, state, &passkey)
            }
            Ceremony::User(user_id, state) => {
                if user_id != row.user_id {
                    return Ok(None);
                }
                self.webauthn.finish_passkey_authentication(answer, &state)
            }
        };
        let result = match result {
            Ok(r) => r,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                tracing::warn!(credential = %used_id, "passkey sign counter went backwards: possible clone");
                store.passkey_suspect_clone(&used_id).await?;
                return Ok(None);
            }
            Err(e) => {
                tracing::info!(credential = %used_id, error = %e, "passkey assertion refused");
                return Ok(None);
            }
        };
        if !result.user_verified() || credential_id_text(result.cred_id().as_ref()) != used_id {
            return Ok(None);
        }
        passkey.update_credential(&result);
        let updated = serde_json::to_string(&passkey).map_err(|_| corrupt("credential"))?;
        store
            .passkey_used(
                &used_id,
                &updated,
                (result.backup_eligible(), result.backup_state()),
                crate::now(),
            )
            .await?;
        // Synced now (its backup flag may have turned on since registration) outweighs attested; attested
        // counts only while attestation CAs are configured.
        let recorded = if result.backup_eligible() {
            SYNCED
        } else if row.attested && self.attestation.is_some() {
            ATTESTED
        } else {
            "passkey"
        };
        Ok(Some((row, recorded)))
    }
}

impl LoginMethod for PasskeyLogin {
    fn id(&self) -> &'static str {
        "passkey"
    }

    fn factor(&self) -> Factor {
        Factor::Possession
    }

    /// A device-bound passkey: a hardware-secured key (RFC 8176 `hwk`) unlocked by the user (`user`).
    fn amr(&self) -> &'static [&'static str] {
        &["hwk", "user"]
    }

    fn recorded_ids(&self) -> &'static [&'static str] {
        &[SYNCED, ATTESTED]
    }

    /// The attested `acr` only where attested passkeys can be registered.
    fn other_acrs(&self) -> &'static [&'static str] {
        if self.attestation.is_some() {
            &[DEVICE_BOUND_ACR, ATTESTED_ACR]
        } else {
            &[DEVICE_BOUND_ACR]
        }
    }

    fn acr_of(&self, recorded: &str) -> &'static str {
        if self.counts_for(recorded, PASSKEY_ACR) {
            PASSKEY_ACR
        } else if self.counts_for(recorded, DEVICE_BOUND_ACR) {
            DEVICE_BOUND_ACR
        } else {
            SYNCED_ACR
        }
    }

    /// The policy of [`device_bound_for`](Self::device_bound_for): a synced passkey does not count towards
    /// those `acr` values.
    /// And of [`with_attestation`](Self::with_attestation): only an attested passkey counts towards those.
    fn counts_for(&self, recorded: &str, acr: &str) -> bool {
        let synced_refused = recorded == SYNCED && self.device_bound_for.iter().any(|a| a == acr);
        let unattested_refused = recorded != ATTESTED && self.attested_for.iter().any(|a| a == acr);
        !(synced_refused || unattested_refused)
    }

    /// A synced passkey (backup eligible) is a software-secured key (`swk`): it can leave the device.
    fn amr_of(&self, recorded: &str) -> &'static [&'static str] {
        if recorded == SYNCED {
            &["swk", "user"]
        } else {
            self.amr()
        }
    }

    fn acr(&self) -> &'static str {
        PASSKEY_ACR
    }

    fn form(&self, page: &LoginPage<'_>) -> String {
        render(&PasskeyButton {
            login_hint: page
                .user
                .map_or(page.login_hint.unwrap_or(""), |u| &u.username),
            named_user: page.user.is_some(),
        })
    }

    fn multi_step(&self) -> bool {
        true
    }

    fn begin<'a>(
        &'a self,
        store: &'a Store,
        page: &'a LoginPage<'a>,
        form: &'a Params,
    ) -> BoxFuture<'a, Result<Option<Challenge>, StoreError>> {
        Box::pin(async move {
            let name = match page.user {
                Some(u) => u.username.clone(),
                None => form.get("username").unwrap_or("").trim().to_owned(),
            };
            let user = if name.is_empty() {
                None
            } else {
                store.user_by_name(&name).await?
            };
            let keys: Vec<Passkey> = match &user {
                Some(u) => store
                    .passkeys_of(&u.id)
                    .await?
                    .iter()
                    .filter(|p| !p.suspect_clone)
                    .filter_map(|p| serde_json::from_str(&p.credential).ok())
                    .collect(),
                None => Vec::new(),
            };
            let (options, ceremony) = match user {
                Some(u) if !keys.is_empty() => {
                    let (rcr, state) = self
                        .webauthn
                        .start_passkey_authentication(&keys)
                        .map_err(|e| corrupt(&e.to_string()))?;
                    (serde_json::to_string(&rcr), Ceremony::User(u.id, state))
                }
                // No username, or none with passkeys: any discoverable credential (the page looks the same
                // whether or not the named user exists).
                _ => {
                    let (rcr, state) = self
                        .webauthn
                        .start_discoverable_authentication()
                        .map_err(|e| corrupt(&e.to_string()))?;
                    (serde_json::to_string(&rcr), Ceremony::Discoverable(state))
                }
            };
            let options = options.map_err(|_| corrupt("options"))?;
            let state = serde_json::to_string(&ceremony).map_err(|_| corrupt("state"))?;
            Ok(Some(Challenge {
                state,
                form: render(&PasskeyAssertion { options: &options }),
            }))
        })
    }

    fn verify<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .verify_recorded(store, form, state)
                .await?
                .map(|(u, _)| u))
        })
    }

    fn verify_recorded<'a>(
        &'a self,
        store: &'a Store,
        form: &'a Params,
        state: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<(UserRow, &'static str)>, StoreError>> {
        Box::pin(async move {
            let (Some(state), Some(answer)) = (state, form.get("credential")) else {
                return Ok(None);
            };
            if answer.len() > MAX_ASSERTION {
                return Ok(None);
            }
            let answer = match serde_json::from_str::<PublicKeyCredential>(answer) {
                Ok(a) => a,
                Err(e) => {
                    tracing::info!(error = %e, "passkey assertion does not parse");
                    return Ok(None);
                }
            };
            let ceremony: Ceremony =
                serde_json::from_str(state).map_err(|_| corrupt("stored state"))?;
            let Some((row, recorded)) = self.check(store, &answer, ceremony).await? else {
                return Ok(None);
            };
            Ok(store.user(&row.user_id).await?.map(|u| (u, recorded)))
        })
    }

    fn failure_message(&self) -> &'static str {
        "The passkey was not accepted."
    }
}

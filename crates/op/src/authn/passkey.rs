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
//! The relying party ID is the issuer's host and the origin the issuer's origin.
//!
//! Must not: accept an assertion without user verification, for another relying party or origin, or for a
//! credential whose user handle is not the stored one; or keep anything of the ceremony in the browser.

use futures_core::future::BoxFuture;
use portcullis_oidc::Params;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AttestationCaList, AttestationMetadata, AttestedPasskeyRegistration, CreationChallengeResponse,
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

use super::{Challenge, Factor, LoginMethod, LoginPage};
use crate::store::{PasskeyRow, Store, StoreError, UserRow};
use crate::templates::{PasskeyAssertion, PasskeyButton, PasskeyConditional, render};

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

/// A registration begun by [`PasskeyLogin::start_registration`] (kept server-side between the two steps).
#[derive(Serialize, Deserialize)]
pub struct Registration {
    /// The options for the browser (`navigator.credentials.create`).
    pub options: CreationChallengeResponse,
    state: RegistrationState,
    handle: Uuid,
}

/// The verifier's state of a registration.
#[derive(Serialize, Deserialize)]
enum RegistrationState {
    /// Any passkey (no attestation asked for).
    Plain(PasskeyRegistration),
    /// An attested one: its attestation must chain to a configured CA.
    Attested(AttestedPasskeyRegistration),
}

/// A passkey a registration verified, before it is stored.
pub struct NewPasskey {
    passkey: Passkey,
    /// The authenticator model a verified attestation named (attested registrations only).
    attested: Option<Uuid>,
}

/// What the server keeps between the two steps.
#[derive(Serialize, Deserialize)]
enum Ceremony {
    /// Any discoverable credential may answer.
    Discoverable(DiscoverableAuthentication),
    /// Only the passkeys of this user (username first).
    User(String, PasskeyAuthentication),
}

/// Every certificate of a PEM bundle as a trusted attestation root (any authenticator model under it).
pub fn attestation_cas(pem: &str) -> Result<AttestationCaList, String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut cas: Option<AttestationCaList> = None;
    for block in pem.split_inclusive(END).filter(|b| b.contains(END)) {
        let one =
            AttestationCaList::try_from(block.trim().as_bytes()).map_err(|e| e.to_string())?;
        match cas.as_mut() {
            Some(all) => all.union(&one),
            None => cas = Some(one),
        }
    }
    cas.ok_or_else(|| "no certificate".into())
}

/// The stored form of a credential: the verifier's record without the attestation's certificate chain (kept
/// as the `attested` and `aaguid` columns), so that sign-in states stay small.
fn without_attestation_chain(passkey: &Passkey) -> Result<String, StoreError> {
    let mut value = serde_json::to_value(passkey).map_err(|_| corrupt("credential"))?;
    value["cred"]["attestation"] = serde_json::json!({"data": "None", "metadata": "None"});
    match serde_json::from_value::<Passkey>(value.clone()) {
        Ok(_) => serde_json::to_string(&value).map_err(|_| corrupt("credential")),
        Err(_) => serde_json::to_string(passkey).map_err(|_| corrupt("credential")),
    }
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

    /// Begins registering a passkey for `user` (whose other passkeys are excluded, so an authenticator
    /// cannot register twice): the options for the browser, and the state to keep server-side.
    pub async fn start_registration(
        &self,
        store: &Store,
        user: &UserRow,
    ) -> Result<Registration, StoreError> {
        let existing = store.passkeys_of(&user.id).await?;
        let handle = match existing.first() {
            Some(p) => Uuid::parse_str(&p.user_handle).map_err(|_| corrupt("user handle"))?,
            None => Uuid::new_v4(),
        };
        let exclude: Vec<_> = existing
            .iter()
            .filter_map(|p| serde_json::from_str::<Passkey>(&p.credential).ok())
            .map(|p| p.cred_id().clone())
            .collect();
        self.start_registration_as(handle, &user.username, exclude)
    }

    /// Begins registering the first passkey of an account that does not exist yet, named `name`.
    pub fn start_registration_new(&self, name: &str) -> Result<Registration, StoreError> {
        self.start_registration_as(Uuid::new_v4(), name, Vec::new())
    }

    fn start_registration_as(
        &self,
        handle: Uuid,
        name: &str,
        exclude: Vec<webauthn_rs::prelude::CredentialID>,
    ) -> Result<Registration, StoreError> {
        let (mut ccr, state) = self
            .webauthn
            .start_passkey_registration(
                handle,
                name,
                name,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(|e| corrupt(&e.to_string()))?;
        // A discoverable credential where the authenticator can make one (a passkey in the full sense: the user
        // signs in without typing a name); webauthn-rs asks for a non-discoverable one. `preferred`, which
        // browsers treat as `required` when the authenticator can store keys, and which still lets one that
        // cannot register (its user then signs in username-first).
        if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
            sel.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
        }
        Ok(Registration {
            options: ccr,
            state: RegistrationState::Plain(state),
            handle,
        })
    }

    /// Begins registering an attested passkey for `user` (its authenticator's attestation must chain to a
    /// configured attestation CA; synced passkeys are refused); `None` when none is configured.
    pub async fn start_attested_registration(
        &self,
        store: &Store,
        user: &UserRow,
    ) -> Result<Option<Registration>, StoreError> {
        let Some(cas) = &self.attestation else {
            return Ok(None);
        };
        let plain = self.start_registration(store, user).await?;
        let exclude = plain
            .options
            .public_key
            .exclude_credentials
            .clone()
            .map(|list| list.into_iter().map(|c| c.id).collect::<Vec<_>>());
        let (ccr, state) = self
            .webauthn
            .start_attested_passkey_registration(
                plain.handle,
                &user.username,
                &user.username,
                exclude,
                cas.clone(),
                None,
            )
            .map_err(|e| corrupt(&e.to_string()))?;
        Ok(Some(Registration {
            options: ccr,
            state: RegistrationState::Attested(state),
            handle: plain.handle,
        }))
    }

    /// The passkey the browser's answer to `registration` creates, when it checks out (origin, challenge,
    /// user verification, the authenticator's signature over the new key).
    pub fn verify_registration(
        &self,
        registration: &Registration,
        answer: &RegisterPublicKeyCredential,
    ) -> Option<NewPasskey> {
        match &registration.state {
            RegistrationState::Plain(state) => self
                .webauthn
                .finish_passkey_registration(answer, state)
                .map(|passkey| NewPasskey {
                    passkey,
                    attested: None,
                })
                .map_err(|e| tracing::info!(error = %e, "passkey registration refused"))
                .ok(),
            RegistrationState::Attested(state) => {
                let attested = self
                    .webauthn
                    .finish_attested_passkey_registration(answer, state)
                    .map_err(
                        |e| tracing::info!(error = %e, "attested passkey registration refused"),
                    )
                    .ok()?;
                let aaguid = match attested.attestation().metadata {
                    AttestationMetadata::Packed { aaguid }
                    | AttestationMetadata::Tpm { aaguid, .. } => aaguid,
                    // An attestation that names no model is not one this policy can rely on.
                    _ => return None,
                };
                Some(NewPasskey {
                    passkey: Passkey::from(attested),
                    attested: Some(aaguid),
                })
            }
        }
    }

    /// The stored form of a verified passkey for `user_id`.
    pub fn passkey_row(
        &self,
        user_id: &str,
        registration: &Registration,
        new: &NewPasskey,
        name: &str,
        now: i64,
    ) -> Result<PasskeyRow, StoreError> {
        let passkey = &new.passkey;
        let credential = serde_json::to_value(passkey).map_err(|_| corrupt("credential"))?;
        // The backup flags the authenticator set at registration (WebAuthn §6.1: BE, BS).
        let flag = |name: &str| credential["cred"][name].as_bool().unwrap_or(false);
        Ok(PasskeyRow {
            credential_id: credential_id_text(passkey.cred_id().as_ref()),
            user_id: user_id.to_owned(),
            user_handle: registration.handle.to_string(),
            credential: without_attestation_chain(passkey)?,
            name: name.to_owned(),
            backup_eligible: flag("backup_eligible"),
            backup_state: flag("backup_state"),
            created_at: now,
            last_used_at: None,
            suspect_clone: false,
            aaguid: new.attested.map(|a| a.to_string()),
            attested: new.attested.is_some(),
        })
    }

    /// Stores a verified passkey for `user_id`; false when the credential is registered already (to anyone).
    pub async fn store_passkey(
        &self,
        store: &Store,
        user_id: &str,
        registration: &Registration,
        new: &NewPasskey,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let row = self.passkey_row(user_id, registration, new, name, now)?;
        store.add_passkey(&row).await
    }

    /// [`verify_registration`](Self::verify_registration), then [`store_passkey`](Self::store_passkey) for
    /// `user`. `Ok(false)`: the answer does not check out, or the credential is registered already.
    pub async fn finish_registration(
        &self,
        store: &Store,
        user: &UserRow,
        registration: &Registration,
        answer: &RegisterPublicKeyCredential,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        match self.verify_registration(registration, answer) {
            Some(passkey) => {
                self.store_passkey(store, &user.id, registration, &passkey, name, now)
                    .await
            }
            None => Ok(false),
        }
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

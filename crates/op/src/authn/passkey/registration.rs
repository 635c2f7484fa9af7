//! Registering passkeys: the ceremony's two steps for a new account (a relying party's `prompt=create`), for an
//! existing user (the account page), and attested registrations (an authenticator whose attestation chains to a
//! configured root); the verified passkey's stored form.
//!
//! Must not: store a passkey the verifier did not accept, mark one attested without a verified chain, or keep
//! the attestation's certificate chain.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AttestationCaList, AttestationMetadata, AttestedPasskeyRegistration, CreationChallengeResponse,
    Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Uuid,
};

use super::{PasskeyLogin, corrupt, credential_id_text};
use crate::store::{PasskeyRow, Store, StoreError, UserRow};

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

impl PasskeyLogin {
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
}

//! Administration: first-run set-up and the `client`, `user` and `keys` subcommands, as functions over the
//! store (the binary only parses arguments and prints).
//!
//! Must not: print or exit (the binary does).

use serde_json::{Value, json};

use crate::authn::password as passwords;
use crate::clients::Client;
use crate::sector::SectorFetcher;
use crate::store::{ClientRow, PasskeyRow, Removal, Store, StoreError, UserRow};
use crate::{hash, now, random_token};

/// The demo client's id.
pub const DEMO_CLIENT: &str = "demo";
/// The demo client's redirect URI.
pub const DEMO_REDIRECT: &str = "http://127.0.0.1:8081/callback";
/// The demo user's login name.
pub const DEMO_USER: &str = "demo";

/// What first-run set-up created or found.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    /// Whether this run created the demo data (false: it was there already).
    pub created: bool,
    /// The demo user's password, only when this run created the user (it is shown once and never stored).
    pub password: Option<String>,
}

/// An admin failure.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
}

/// The demo client's registration.
pub fn demo_metadata() -> Value {
    json!({
        "client_name": "Portcullis demo client",
        "redirect_uris": [DEMO_REDIRECT],
        "post_logout_redirect_uris": ["http://127.0.0.1:8081/"],
        "response_types": ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"],
        "grant_types": ["authorization_code", "refresh_token", "implicit"],
        "token_endpoint_auth_method": "none",
        // A native app's loopback redirect: any port (RFC 8252 §7.3), so `portcullis-client login` can use
        // a random free one.
        "application_type": "native",
        "require_pkce": true,
        "scope": "openid profile email phone address offline_access avatar payment_details",
        // ES256, registered explicitly (the default is RS256): smaller, and cheaper to sign.
        "id_token_signed_response_alg": "ES256",
        "authorization_signed_response_alg": "ES256"
    })
}

/// The demo user's claims.
pub fn demo_claims() -> Value {
    json!({
        "name": "Dee Mo", "given_name": "Dee", "family_name": "Mo", "nickname": "dee",
        "preferred_username": "demo", "picture": "https://avatars.example/demo.png",
        "email": "demo@portcullis.example", "email_verified": true,
        "phone_number": "+1 555 0100", "phone_number_verified": false,
        "address": {"street_address": "1 Gate Street", "locality": "Castle", "postal_code": "00001", "country": "GB"},
        "payment_details": {"iban": "GB33BUKB20201555555555", "holder": "Dee Mo"}
    })
}

/// Creates the demo client and user when the database has neither (first run); later runs reuse them. The
/// demo password is returned only when the user is created (to be shown once): it is never stored, in clear
/// or otherwise, beyond its Argon2id hash.
pub async fn ensure_demo(store: &Store) -> Result<Option<DemoSetup>, AdminError> {
    if store.client(DEMO_CLIENT).await?.is_none() && store.client_ids().await?.is_empty() {
        add_client(store, DEMO_CLIENT, &demo_metadata()).await?;
        let password = random_token()[..16].to_owned();
        add_user(store, DEMO_USER, &password, &demo_claims()).await?;
        return Ok(Some(DemoSetup {
            created: true,
            password: Some(password),
        }));
    }
    if store.client(DEMO_CLIENT).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(DemoSetup {
        created: false,
        password: None,
    }))
}

/// Registers (or replaces) a client. Returns the generated secret for `client_secret_basic`,
/// `client_secret_post` and `client_secret_jwt` clients (shown once). Basic and post secrets are stored only
/// as hashes; `client_secret_jwt` secrets are sealed (the provider needs them as HMAC keys, see
/// [`crate::sealing`]) and long enough for HS512 (64 random bytes).
///
/// A `sector_identifier_uri` is fetched (over the public web PKI) and must list every redirect URI
/// ([`crate::sector`]).
pub async fn add_client(
    store: &Store,
    id: &str,
    metadata: &Value,
) -> Result<Option<String>, AdminError> {
    add_client_with(store, id, metadata, &default_fetcher()?).await
}

/// [`add_client`] fetching `sector_identifier_uri` with `fetcher` (e.g. one that trusts a private CA).
pub async fn add_client_with(
    store: &Store,
    id: &str,
    metadata: &Value,
    fetcher: &SectorFetcher,
) -> Result<Option<String>, AdminError> {
    let secret = match auth_method(metadata) {
        "client_secret_basic" | "client_secret_post" => Some(random_token()),
        "client_secret_jwt" => Some(long_secret()?),
        _ => None,
    };
    put_client(store, id, metadata, secret.as_deref(), fetcher).await?;
    Ok(secret)
}

fn default_fetcher() -> Result<SectorFetcher, AdminError> {
    SectorFetcher::new().map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Registers a client with a secret chosen by the caller (tests, migrations).
pub async fn add_client_with_secret(
    store: &Store,
    id: &str,
    metadata: &Value,
    secret: &str,
) -> Result<(), AdminError> {
    put_client(store, id, metadata, Some(secret), &default_fetcher()?).await
}

fn auth_method(metadata: &Value) -> &str {
    metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_basic")
}

fn long_secret() -> Result<String, AdminError> {
    use base64::Engine as _;
    let mut b = zeroize::Zeroizing::new([0u8; 64]);
    portcullis_jose::Backend::default()
        .fill_random(b.as_mut())
        .map_err(|e| AdminError::Invalid(format!("random: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b.as_ref()))
}

async fn put_client(
    store: &Store,
    id: &str,
    metadata: &Value,
    secret: Option<&str>,
    fetcher: &SectorFetcher,
) -> Result<(), AdminError> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AdminError::Invalid(
            "client id must be 1-128 visible ASCII characters".into(),
        ));
    }
    let (secret_hash, secret_sealed) = match (auth_method(metadata), secret) {
        ("client_secret_jwt", Some(s)) => {
            // RFC 7518 §3.2: the HMAC key must be at least as long as the hash output (32 bytes for HS256).
            if s.len() < 32 {
                return Err(AdminError::Invalid(
                    "a client_secret_jwt secret must be at least 32 bytes".into(),
                ));
            }
            let sealer = crate::sealing::SecretSealer::load(store).await?;
            (None, Some(sealer.seal(id, s)?))
        }
        (_, s) => (s.map(hash), None),
    };
    let row = ClientRow {
        id: id.to_owned(),
        secret_hash,
        secret_sealed,
        metadata: metadata.to_string(),
    };
    let client = Client::from_row(&row).map_err(AdminError::Invalid)?;
    // OIDC Core §8.1: the sector document must list every redirect URI.
    if let Some(uri) = &client.meta.sector_identifier_uri {
        fetcher
            .check(uri, &client.meta.redirect_uris)
            .await
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
    }
    store.put_client(&row, now()).await?;
    Ok(())
}

/// Adds a user; the id is random (it is the public `sub`).
pub async fn add_user(
    store: &Store,
    username: &str,
    password: &str,
    claims: &Value,
) -> Result<String, AdminError> {
    if username.is_empty() || username.len() > 256 {
        return Err(AdminError::Invalid("username must be 1-256 bytes".into()));
    }
    if password.len() < 8 {
        return Err(AdminError::Invalid(
            "password must be at least 8 characters".into(),
        ));
    }
    if !claims.is_object() {
        return Err(AdminError::Invalid("claims must be a JSON object".into()));
    }
    let id = random_token()[..22].to_owned();
    let row = UserRow {
        id: id.clone(),
        username: username.to_owned(),
        password_hash: passwords::hash(password).map_err(AdminError::Invalid)?,
        claims: claims.to_string(),
        consent_withdrawn_at: None,
    };
    if !store.add_user(&row, now()).await? {
        return Err(AdminError::Invalid(format!("username {username} is taken")));
    }
    Ok(id)
}

/// Sets a password.
pub async fn set_password(store: &Store, username: &str, password: &str) -> Result<(), AdminError> {
    if password.len() < 8 {
        return Err(AdminError::Invalid(
            "password must be at least 8 characters".into(),
        ));
    }
    let h = passwords::hash(password).map_err(AdminError::Invalid)?;
    if !store.set_password(username, &h).await? {
        return Err(AdminError::Invalid(format!("no user {username}")));
    }
    // Whoever was signed in with the old password is signed out everywhere.
    if let Some(user) = store.user_by_name(username).await? {
        store.delete_user_sessions(&user.id).await?;
    }
    Ok(())
}

/// A user's passkeys, oldest first (for `user passkeys NAME`).
pub async fn user_passkeys(store: &Store, username: &str) -> Result<Vec<PasskeyRow>, AdminError> {
    let Some(user) = store.user_by_name(username).await? else {
        return Err(AdminError::Invalid(format!("no user {username}")));
    };
    Ok(store.passkeys_of(&user.id).await?)
}

/// Removes one of a user's passkeys (for `user passkeys NAME --remove ID`), unless it is the user's last way
/// to sign in; the user's sessions end, so a removed passkey no longer keeps anyone signed in.
pub async fn remove_user_passkey(
    store: &Store,
    username: &str,
    credential_id: &str,
) -> Result<(), AdminError> {
    let Some(user) = store.user_by_name(username).await? else {
        return Err(AdminError::Invalid(format!("no user {username}")));
    };
    match store.remove_passkey(&user.id, credential_id).await? {
        Removal::Removed => {
            store.delete_user_sessions(&user.id).await?;
            Ok(())
        }
        Removal::NotFound => Err(AdminError::Invalid(format!(
            "{username} has no passkey {credential_id}"
        ))),
        Removal::LastWayToSignIn => Err(AdminError::Invalid(format!(
            "passkey {credential_id} is the last way {username} can sign in: set a password or add a passkey first"
        ))),
    }
}

/// A user's step-up factors: each kind with when it was enrolled, and for an e-mail address or phone number
/// the destination (for `user factors NAME`). A pending authenticator-app set-up shows as `mobile_app-setup`.
pub async fn user_factors(
    store: &Store,
    username: &str,
) -> Result<Vec<(String, i64, Option<String>)>, AdminError> {
    let Some(user) = store.user_by_name(username).await? else {
        return Err(AdminError::Invalid(format!("no user {username}")));
    };
    let mut out = Vec::new();
    for (kind, at) in store.factor_kinds(&user.id).await? {
        let shown = match kind.as_str() {
            "email" | "sms" => store
                .factor(&user.id, &kind)
                .await?
                .map(|f| f.secret.to_string()),
            _ => None,
        };
        out.push((kind, at, shown));
    }
    Ok(out)
}

/// Resets a user's step-up factors (for `user factors NAME --reset [KIND]`): one kind, or all of them, and their
/// locks; the user's sessions end. Returns how many were removed.
pub async fn reset_user_factors(
    store: &Store,
    username: &str,
    kind: Option<&str>,
) -> Result<u64, AdminError> {
    const KINDS: [&str; 4] = ["mobile_app", "email", "sms", "second_password"];
    if let Some(k) = kind
        && !KINDS.contains(&k)
    {
        return Err(AdminError::Invalid(format!(
            "no factor kind {k:?} (one of {})",
            KINDS.join(", ")
        )));
    }
    let Some(user) = store.user_by_name(username).await? else {
        return Err(AdminError::Invalid(format!("no user {username}")));
    };
    let mut n = store.remove_factor(&user.id, kind).await?;
    if kind == Some("mobile_app") {
        n += store
            .remove_factor(&user.id, Some("mobile_app-setup"))
            .await?;
    }
    // A reset also lifts the lock of too many wrong answers.
    store.factor_passed(&user.id, kind).await?;
    store.delete_user_sessions(&user.id).await?;
    Ok(n)
}

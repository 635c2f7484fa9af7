//! Administration: first-run set-up and the `client`, `user` and `keys` subcommands, as functions over the
//! store (the binary only parses arguments and prints).

use serde_json::{Value, json};

use crate::clients::Client;
use crate::store::{ClientRow, Store, StoreError, UserRow};
use crate::{hash, now, passwords, random_token};

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
    /// The demo user's password.
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
        "require_pkce": true,
        "scope": "openid profile email phone address offline_access avatar payment_details"
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

/// Creates the demo client and user when the database has neither (first run); later runs reuse them.
pub async fn ensure_demo(store: &Store) -> Result<Option<DemoSetup>, AdminError> {
    let created =
        if store.client(DEMO_CLIENT).await?.is_none() && store.client_ids().await?.is_empty() {
            add_client(store, DEMO_CLIENT, &demo_metadata()).await?;
            let password = random_token()[..16].to_owned();
            add_user(store, DEMO_USER, &password, &demo_claims()).await?;
            store.setting_or_insert("demo_password", &password).await?;
            true
        } else {
            false
        };
    let password = store.setting("demo_password").await?;
    if !created && password.is_none() && store.client(DEMO_CLIENT).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(DemoSetup { created, password }))
}

/// Registers (or replaces) a client. Returns the generated secret for `client_secret_basic` /
/// `client_secret_post` clients (shown once; only its hash is stored).
pub async fn add_client(
    store: &Store,
    id: &str,
    metadata: &Value,
) -> Result<Option<String>, AdminError> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AdminError::Invalid(
            "client id must be 1-128 visible ASCII characters".into(),
        ));
    }
    let method = metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_basic");
    let secret = matches!(method, "client_secret_basic" | "client_secret_post").then(random_token);
    let row = ClientRow {
        id: id.to_owned(),
        secret_hash: secret.as_deref().map(hash),
        metadata: metadata.to_string(),
    };
    Client::from_row(&row).map_err(AdminError::Invalid)?;
    store.put_client(&row, now()).await?;
    Ok(secret)
}

/// Registers a client with a secret chosen by the caller (tests, migrations).
pub async fn add_client_with_secret(
    store: &Store,
    id: &str,
    metadata: &Value,
    secret: &str,
) -> Result<(), AdminError> {
    let row = ClientRow {
        id: id.to_owned(),
        secret_hash: Some(hash(secret)),
        metadata: metadata.to_string(),
    };
    Client::from_row(&row).map_err(AdminError::Invalid)?;
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
    Ok(())
}

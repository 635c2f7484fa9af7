//! The rows the store takes in and hands out: one plain struct per table row (clients, users, signing keys,
//! pending requests, sessions, grants, codes), the joined views the hot paths read in one query, and the
//! outcome of presenting a single-use secret ([`Consumed`]).
//!
//! Data only: no SQL and no decoding here (reading rows back is `columns.rs`, queries are in the table
//! modules).
//!
//! Must not: run queries or decode columns (the table modules and `columns.rs` do).

/// An access token to store: hash, scope, expiry, and the `x5t#S256` it is bound to.
pub type AccessInsert<'a> = (&'a str, &'a str, i64, Option<&'a str>);

/// A client row.
#[derive(Debug, Clone)]
pub struct ClientRow {
    /// `client_id`
    pub id: String,
    /// SHA-256 (base64url) of the secret (`client_secret_basic` / `client_secret_post`).
    pub secret_hash: Option<String>,
    /// The secret sealed with the provider's sealing key (`client_secret_jwt` only; see
    /// [`crate::sealing`]).
    pub secret_sealed: Option<String>,
    /// Registration metadata (RFC 7591 JSON plus Portcullis members).
    pub metadata: String,
}

/// A user row.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Local account id (the public `sub`).
    pub id: String,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Claims as a JSON object.
    pub claims: String,
    /// When the user last withdrew consent from any client ([`crate::store::Store::withdraw_consent`]).
    pub consent_withdrawn_at: Option<i64>,
}

/// A signing key row.
#[derive(Debug, Clone)]
pub struct KeyRow {
    /// `kid`
    pub kid: String,
    /// `EC`, `RSA` or `OKP`.
    pub family: String,
    /// Private JWK JSON.
    pub jwk: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    /// Creation time.
    pub created_at: i64,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
}

/// A pending authorization request (waiting for login or consent) or a pushed one (PAR).
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// Unguessable id.
    pub id: String,
    /// `authorize` or `par`.
    pub kind: String,
    /// The client.
    pub client_id: String,
    /// The request as a form string.
    pub params: String,
    /// CSRF token for the login and consent forms.
    pub csrf: String,
    /// Expiry.
    pub expires_at: i64,
    /// The browser it was shown to: the hash of that browser's binding cookie
    /// ([`crate::http::binding::BrowserBinding`]); empty for pushed requests and ceremonies.
    pub browser: String,
}

/// A login session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Public session id (the `sid` claim).
    pub sid: String,
    /// The user.
    pub user_id: String,
    /// When the user authenticated (the newest login method passed).
    pub auth_time: i64,
    /// Expiry.
    pub expires_at: i64,
    /// The login methods passed and when ([`crate::authn::AuthRecord`]'s text; empty for a session stored
    /// before sessions recorded them).
    pub authn: String,
}

/// A grant: what one authorization (or client credentials request) allowed; every token hangs off one.
#[derive(Debug, Clone)]
pub struct GrantRow {
    /// Id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user (none for client credentials).
    pub user_id: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// The `claims` request JSON.
    pub claims: Option<String>,
    /// Authentication time.
    pub auth_time: Option<i64>,
    /// `nonce` of the authorization request.
    pub nonce: Option<String>,
    /// Session id.
    pub sid: Option<String>,
    /// Confirmation (`x5t#S256`) for certificate-bound tokens.
    pub cnf: Option<String>,
    /// Whether revoked.
    pub revoked: bool,
    /// What the grant's ID tokens say of the authentication: the `acr`, then the `amr` values, separated by
    /// spaces ([`crate::authn::Methods::summary`]); `None` for grants without a user or made before grants
    /// kept it.
    pub authn: Option<String>,
}

/// An authorization code row.
#[derive(Debug, Clone)]
pub struct CodeRow {
    /// The grant.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The authorization request's `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method.
    pub code_challenge_method: Option<String>,
    /// Expiry.
    pub expires_at: i64,
}

/// What happened when a single-use secret (code, refresh token) was presented.
#[derive(Debug)]
pub enum Consumed<T> {
    /// First use: here it is, now marked used.
    Fresh(T),
    /// Already used: a replay. Carries the grant id, so the caller can revoke it.
    Replayed(String),
    /// Unknown.
    Unknown,
}

/// An access token's view at the resource (userinfo, introspection).
#[derive(Debug, Clone)]
pub struct AccessTokenRow {
    /// The grant (not revoked).
    pub grant: GrantRow,
    /// Scope of this token.
    pub scope: String,
    /// Expiry.
    pub expires_at: i64,
    /// `x5t#S256` of the certificate the token is bound to.
    pub cnf: Option<String>,
    /// The grant's user, read in the same query (none for client credentials, or when the user was removed).
    pub user: Option<UserRow>,
}

/// A live session with what the authorization endpoint needs next to it, read in one query.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The session.
    pub session: SessionRow,
    /// Its user (none when the user was removed since).
    pub user: Option<UserRow>,
    /// What this user consented to for the client asked about.
    pub consent: Option<ConsentRow>,
}

/// What a user consented to release to one client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentRow {
    /// The scopes, space-separated.
    pub scope: String,
    /// The individual claims (OIDC Core §5.5) beyond those the scopes release, space-separated.
    pub claims: String,
}

/// A consumed code with its grant and the grant's user (read in the same round trip).
#[derive(Debug, Clone)]
pub struct CodeGrant {
    /// The code.
    pub code: CodeRow,
    /// Its grant (none if it vanished).
    pub grant: Option<GrantRow>,
    /// The grant's user.
    pub user: Option<UserRow>,
    /// Whether the [`CodeTokens`] passed to [`Store::consume_code_and_store`] were stored on the grant (in the
    /// transaction that consumed the code): true exactly when the code was fresh and its grant exists and is
    /// not revoked. Always false from [`Store::consume_code`].
    ///
    /// [`Store::consume_code_and_store`]: super::Store::consume_code_and_store
    /// [`Store::consume_code`]: super::Store::consume_code
    pub tokens_stored: bool,
}

/// The tokens a code exchange will hand out, stored in the same transaction that consumes the code (one
/// round trip instead of two) — but only if the code is fresh and its grant exists and is not revoked. They
/// take the grant's scope. The caller still checks the code (client, redirect URI, PKCE, expiry) afterwards
/// and revokes the grant if it refuses, so tokens stored for a code that fails its checks are never usable;
/// their secrets never leave the caller either.
#[derive(Debug, Clone)]
pub struct CodeTokens {
    /// The access token's stored key ([`TokenKey::key`]).
    ///
    /// [`TokenKey::key`]: super::TokenKey::key
    pub access_key: String,
    /// The access token's expiry (Unix seconds).
    pub access_expires_at: i64,
    /// The `x5t#S256` the access token is bound to (RFC 8705).
    pub cnf: Option<String>,
    /// The refresh token's stored key and expiry, if one is issued.
    pub refresh: Option<(String, i64)>,
    /// [`Store::redeem_sealed_code`] only: the access token names the grant ([`grant_access_token`]) and is
    /// kept on the grant's row, `access_key` being its [`TokenKey::grant`] hash. Elsewhere false.
    ///
    /// [`Store::redeem_sealed_code`]: super::Store::redeem_sealed_code
    /// [`grant_access_token`]: super::grant_access_token
    /// [`TokenKey::grant`]: super::TokenKey::grant
    pub access_in_grant: bool,
}

/// A grant and its user (none for client credentials, or a removed user).
pub type GrantWithUser = (GrantRow, Option<UserRow>);

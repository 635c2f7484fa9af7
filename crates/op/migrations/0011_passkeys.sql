-- Passkeys (WebAuthn credentials) of users. `credential` is the verifier's record of the credential (public key,
-- sign counter, flags; JSON); `user_handle` is the WebAuthn user handle of the credential's user (a UUID, the same
-- for all of one user's passkeys); `suspect_clone` is set when an assertion's sign counter went backwards.
CREATE TABLE passkeys (
    credential_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    user_handle TEXT NOT NULL,
    credential TEXT NOT NULL,
    name TEXT NOT NULL,
    backup_eligible BIGINT NOT NULL DEFAULT 0,
    backup_state BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    suspect_clone BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- The accounts relying parties created (OpenID Connect Prompt Create 1.0): a relying party's own identifier for
-- its user (`login_hint` of its signed registration request) and the provider's user it names. An account is per
-- relying party: another client naming the same identifier names another account.
CREATE TABLE rp_accounts (
    client_id TEXT NOT NULL,
    rp_user_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, rp_user_id)
);

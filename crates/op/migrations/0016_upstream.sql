-- Upstream OpenID Providers (brokering): logins sent out to an upstream provider and waiting for its answer
-- (`upstream_requests`, keyed by the SHA-256 of the `state` sent; `session` is the relying party's login state:
-- nonce, PKCE verifier, issuer), and the local account each upstream subject maps to (`upstream_accounts`).
CREATE TABLE upstream_requests (
    state_hash TEXT PRIMARY KEY,
    upstream_id TEXT NOT NULL,
    pending_id TEXT NOT NULL,
    browser TEXT NOT NULL,
    session TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upstream_requests_expiry ON upstream_requests (expires_at);
CREATE TABLE upstream_accounts (
    upstream_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upstream_id, subject)
);

-- Identity-provider choices remembered by the selector (`/select-accounts`): per client, visitor and browser (the
-- SHA-256 of the three), until they expire.
CREATE TABLE selector_choices (
    key_hash TEXT PRIMARY KEY,
    idp_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX selector_choices_expiry ON selector_choices (expires_at);

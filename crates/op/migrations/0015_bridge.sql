-- The login bridge: websites with their own login that vouch for their users (`bridge_sites`; the API key is
-- kept as its SHA-256, `trusted` sites may skip the consent page, a site with a `signing_key` (a public JWK) signs its
-- postbacks), the local account each site user maps to
-- (`bridge_accounts`), and the requests sent out to a site and waiting for its postback and the browser's return
-- (`bridge_requests`; `state`: sent, posted, done or failed).
CREATE TABLE bridge_sites (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    verify_url TEXT NOT NULL,
    home_url TEXT,
    api_key_hash TEXT NOT NULL,
    trusted BIGINT NOT NULL,
    signing_key TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE bridge_accounts (
    site_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, external_id)
);
CREATE TABLE bridge_requests (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    pending_id TEXT NOT NULL,
    browser TEXT NOT NULL,
    state TEXT NOT NULL,
    answer TEXT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX bridge_requests_expiry ON bridge_requests (expires_at);

-- The login bridge: websites with their own login that vouch for their users (`bridge_sites`: the API key kept as
-- its SHA-256; `trusted` sites may skip the consent page; a site with a `signing_key`, a public JWK, signs its
-- postbacks; `claims` lists what it may release, space-separated, empty for the standard claims; its
-- `email_verified`/`phone_number_verified` count only when `trust_verified`), the local account each site user maps
-- to (`bridge_accounts`), and the requests sent out to a site and waiting for its postback and the browser's return
-- (`bridge_requests`; `state`: sent, posted, done or failed; `return_hash`: the SHA-256 of the one-time code the
-- accepted postback was answered with, which the browser must bring back).
CREATE TABLE bridge_sites (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    verify_url TEXT NOT NULL,
    home_url TEXT,
    api_key_hash TEXT NOT NULL,
    trusted BIGINT NOT NULL,
    signing_key TEXT,
    claims TEXT NOT NULL,
    trust_verified BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX bridge_sites_key ON bridge_sites (api_key_hash);
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
    return_hash TEXT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX bridge_requests_expiry ON bridge_requests (expires_at);

-- Step-up factors users enrolled (one row per user and kind):
--   mobile_app        an authenticator app; `secret` is its TOTP seed sealed under the key-encryption key, and
--                     `last_step` the newest TOTP time step accepted (a code is never accepted twice);
--   mobile_app-setup  a seed shown on the account page and not yet confirmed with a first code (counts for nothing);
--   email, sms        a verified e-mail address or phone number (`secret` holds it, in clear: it is where codes go);
--   second_password   an Argon2 hash of the user's second password.
CREATE TABLE user_factors (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret TEXT NOT NULL,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- One-time codes sent by e-mail or SMS, at most one live code per user and purpose (`email`, `sms` to pass the
-- factor; `enrol-email`, `enrol-sms` to verify a new address or number, held in `destination`). `code` is sealed
-- under the key-encryption key; a code is used once, within `expires_at`, after at most a few `attempts`.
CREATE TABLE factor_codes (
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    code TEXT NOT NULL,
    destination TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, purpose)
);
CREATE INDEX factor_codes_expiry ON factor_codes (expires_at);

-- Wrong answers to a user's step-up factor (`method`: mobile_app, email, sms, second_password), counted per user in
-- the database so that neither another address, another node nor a password sign-in resets them; a pass clears them.
CREATE TABLE factor_failures (
    user_id TEXT NOT NULL,
    method TEXT NOT NULL,
    count BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, method)
);

-- Every code sent to a user (by e-mail or SMS, to pass a factor or to verify a new destination), for the per-user
-- sending quota.
CREATE TABLE factor_sends (
    user_id TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX factor_sends_user ON factor_sends (user_id, at);

-- Audit events: what a security team must be able to reconstruct (sign-ins and their failures by method, passkeys
-- and factors changed, refresh token reuse, consent, clients and keys changed by the admin command, login-bridge
-- postbacks), each with its time, user, client and address. Kept `audit_retention_days` (config), then purged.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    address TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);

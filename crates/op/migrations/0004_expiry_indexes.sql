-- Expired rows are purged in the background (Store::purge_expired): index what the purge selects on.
-- Expiry grows with issue time, so these indexes are appended to, not written at random pages.
CREATE INDEX codes_expiry ON codes (expires_at);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
CREATE INDEX grants_created ON grants (created_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX pending_requests_expiry ON pending_requests (expires_at);

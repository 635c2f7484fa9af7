-- The purge (Store::purge_expired) finds expired codes, tokens and grants by their time-ordered keys, so the
-- hot path no longer writes four expiry index B-trees with every flow (a quarter of the pages it committed).
DROP INDEX codes_expiry;
DROP INDEX access_tokens_expiry;
DROP INDEX refresh_tokens_expiry;
DROP INDEX grants_created;
-- Rows stored by versions before time-ordered keys (codes and tokens under a bare 43-character hash, grants
-- under a random id) carry no time in their key: they are still found by expiry, through partial indexes that
-- no new row enters (time-ordered keys are 56 characters, time-ordered grant ids 34).
CREATE INDEX codes_legacy_expiry ON codes (expires_at) WHERE length(hash) = 43;
CREATE INDEX access_tokens_legacy_expiry ON access_tokens (expires_at) WHERE length(hash) = 43;
CREATE INDEX refresh_tokens_legacy_expiry ON refresh_tokens (expires_at) WHERE length(hash) = 43;
CREATE INDEX grants_legacy_created ON grants (created_at) WHERE length(id) <> 34;

-- The access token handed out with a code's first redemption is kept on the grant that redemption stores
-- (its hash, expiry and certificate binding), not in a row of its own: the token names its grant
-- (`<grant id>.<secret>`), so a lookup is one primary-key probe, and the hot path writes three B-trees fewer
-- per flow. Access tokens issued later on the same grant (refresh) still get rows in access_tokens.
ALTER TABLE grants ADD COLUMN access_hash TEXT;
ALTER TABLE grants ADD COLUMN access_expires_at BIGINT;
ALTER TABLE grants ADD COLUMN access_cnf TEXT;

-- Certificate-bound access tokens (RFC 8705 §3): the x5t#S256 of the client certificate the token is bound to.
ALTER TABLE access_tokens ADD COLUMN cnf TEXT;

-- The individual claims (OIDC Core §5.5) a user consented to release to a client, beyond those its consented
-- scopes release: space-separated claim names, as the consent page listed them. Empty for consent given before
-- this column (which then covers only its scopes).
ALTER TABLE consents ADD COLUMN claims TEXT NOT NULL DEFAULT '';

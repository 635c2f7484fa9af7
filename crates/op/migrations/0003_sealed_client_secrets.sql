-- client_secret_jwt (OIDC Core §9) needs the client secret itself: sealed with AES-256-GCM (see sealing.rs).
ALTER TABLE clients ADD COLUMN secret_sealed TEXT;

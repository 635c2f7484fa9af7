-- The browser a pending authorization request was shown to: the SHA-256 (base64url) of that browser's binding
-- cookie. Login and consent forms are accepted only from that browser. Empty for pushed requests and ceremonies
-- (and for rows made before this column, which are refused at /login and /consent).
ALTER TABLE pending_requests ADD COLUMN browser TEXT NOT NULL DEFAULT '';

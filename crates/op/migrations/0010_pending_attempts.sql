-- Failed sign-in attempts (and begun multi-step ceremonies) made on a pending authorization request: at the cap
-- the request is used up, and the user starts again from the application.
ALTER TABLE pending_requests ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;

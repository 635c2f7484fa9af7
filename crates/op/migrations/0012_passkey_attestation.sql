-- Passkeys registered with a verified attestation: `attested` is set when the authenticator's attestation chained
-- to a configured attestation CA (`passkeys_attestation_ca`), and `aaguid` is the authenticator model it named.
ALTER TABLE passkeys ADD COLUMN aaguid TEXT;
ALTER TABLE passkeys ADD COLUMN attested BIGINT NOT NULL DEFAULT 0;

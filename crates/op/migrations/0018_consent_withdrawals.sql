-- Consent withdrawn by a user (the account page) or for one (the admin command): when, per client, so that a code
-- issued before the withdrawal is refused at redemption; and on the user, the latest of them, read with the user at
-- every redemption so that a redemption with no recent withdrawal needs no query of its own. The index finds the
-- grants a withdrawal revokes.
CREATE TABLE consent_withdrawals (
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    withdrawn_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
ALTER TABLE users ADD COLUMN consent_withdrawn_at BIGINT;
CREATE INDEX grants_user_client ON grants (user_id, client_id);
-- Consent to clients removed before removing a client took its consents with it: gone, so that a client registered
-- later under the same id starts with none.
DELETE FROM consents WHERE client_id NOT IN (SELECT id FROM clients);

-- What a session records of how its user authenticated (login methods and times: `method@unix-time`, space
-- separated; empty for sessions made before this column, which count as the primary method at auth_time), and
-- what a grant's ID tokens say of it (`acr`, then the `amr` values; NULL for grants made before).
ALTER TABLE sessions ADD COLUMN authn TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN authn TEXT;

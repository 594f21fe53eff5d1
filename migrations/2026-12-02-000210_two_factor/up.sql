-- The account's second factor (RFC 6238 TOTP): at most one row. `enabled_at` is NULL while the
-- person is setting it up and has not yet confirmed a code. The secret is kept as it is (base32):
-- the server computes codes from it, so it cannot be hashed; it never leaves in a URL, log or API
-- answer. `last_step` is the 30-second step of the last code accepted: a code is taken once.
CREATE TABLE two_factor (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    secret TEXT NOT NULL,
    enabled_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 (each code has 80 random bits).
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY NOT NULL,
    code_hash TEXT NOT NULL UNIQUE,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);

-- A login whose password was right and that waits for its second factor (5 minutes). The token
-- rides in an HttpOnly cookie; only its SHA-256 is kept.
CREATE TABLE login_challenges (
    id INTEGER PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0
);

-- Version 5: staff roles, the audit log, same-day leftover doses, and notification retries.

-- Clinic staff and agents (call-centre and community-centre staff who book for people).
-- A token is shown once when issued; only its SHA-256 is kept.
CREATE TABLE staff (
    id         INTEGER PRIMARY KEY,
    role       TEXT NOT NULL,   -- 'clinic' or 'agent'
    clinic     INTEGER,         -- the clinic, for clinic staff
    name       TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);

-- Every operator, clinic-staff and agent action, and what came of it. Append only.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,   -- 'operator', 'staff:7', 'agent:3'
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,   -- 'ok' or the refusal's code
    detail  TEXT NOT NULL
);

-- Doses a clinic offers for today, until a time; claimed counts up to doses, never past it.
CREATE TABLE leftover_offer (
    id        INTEGER PRIMARY KEY,
    clinic    INTEGER NOT NULL,
    product   TEXT NOT NULL,
    day       INTEGER NOT NULL, -- days since 1970-01-01
    doses     INTEGER NOT NULL,
    claimed   INTEGER NOT NULL DEFAULT 0 CHECK (claimed <= doses),
    until_ms  INTEGER NOT NULL,
    posted_by INTEGER NOT NULL,
    posted_ms INTEGER NOT NULL
);
CREATE INDEX leftover_offer_by_day ON leftover_offer (day, clinic);

CREATE TABLE leftover_claim (
    offer      INTEGER NOT NULL REFERENCES leftover_offer (id),
    person     INTEGER NOT NULL,
    booking    INTEGER NOT NULL,
    claimed_ms INTEGER NOT NULL,
    PRIMARY KEY (offer, person)
) WITHOUT ROWID;

-- People who asked to hear of leftover doses near a place (at most one place each).
CREATE TABLE leftover_subscription (
    person     INTEGER PRIMARY KEY,
    lat        REAL NOT NULL,
    lon        REAL NOT NULL,
    radius_km  REAL NOT NULL,
    products   TEXT NOT NULL, -- comma-separated product codes; empty for any
    updated_ms INTEGER NOT NULL
);
CREATE INDEX leftover_subscription_by_place ON leftover_subscription (lat, lon);

-- Retries with backoff: a failed message waits until next_attempt_ms; after too many
-- attempts it is parked (failed_ms) for an operator instead of retried forever.
ALTER TABLE outbox ADD COLUMN next_attempt_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN failed_ms INTEGER;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (next_attempt_ms, id)
    WHERE delivered_ms IS NULL AND failed_ms IS NULL;

-- yeyak's SQLite schema, version 1. Applied once; later versions add files, never edit this one.
CREATE TABLE clinic (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    municipality INTEGER NOT NULL,
    lat          REAL NOT NULL,
    lon          REAL NOT NULL,
    open_hour    INTEGER NOT NULL,
    close_hour   INTEGER NOT NULL,
    per_band     INTEGER NOT NULL,
    saturdays    INTEGER NOT NULL
);

-- The standing supply plan: doses of a product a clinic receives for each day it is open.
CREATE TABLE clinic_product (
    clinic      INTEGER NOT NULL REFERENCES clinic (id),
    product     TEXT NOT NULL,
    daily_doses INTEGER NOT NULL,
    PRIMARY KEY (clinic, product)
) WITHOUT ROWID;

-- A person is known by a keyed hash of their resident registration number; the number itself is
-- never stored. Name and phone are sealed (encrypted) by the server before they get here.
CREATE TABLE person (
    id         INTEGER PRIMARY KEY,
    rrn_hash   BLOB NOT NULL UNIQUE,
    birth_date TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);

-- One row per booking: dose 1 and (for two-dose products) dose 2, same clinic and product.
CREATE TABLE booking (
    id         INTEGER PRIMARY KEY,
    person     INTEGER NOT NULL,
    booked_by  INTEGER NOT NULL,
    product    TEXT NOT NULL,
    d1_clinic  INTEGER NOT NULL,
    d1_day     INTEGER NOT NULL, -- days since 1970-01-01
    d1_hour    INTEGER NOT NULL,
    d1_status  TEXT NOT NULL,
    d2_clinic  INTEGER,
    d2_day     INTEGER,
    d2_hour    INTEGER,
    d2_status  TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
-- B2 enforced by the database too, not only by the writer's memory.
CREATE UNIQUE INDEX booking_one_active_per_person ON booking (person)
    WHERE d1_status = 'booked' OR d2_status = 'booked';
CREATE INDEX booking_by_person ON booking (person);
-- Most people book for themselves: only proxy bookings need finding by their booker.
CREATE INDEX booking_by_proxy ON booking (booked_by) WHERE booked_by != person;
-- A clinic's list for a day. One index serves both doses: dose 2 is always at the dose-1 clinic
-- (the audit checks it) and between the product's interval and 14 days more after dose 1
-- (AstraZeneca: 77 to 91 days), so a day's dose-2 patients are a range of this index:
--   d1_clinic = :c AND d1_day BETWEEN :day - 91 AND :day - 1 AND d2_day = :day
-- A second index on (d2_clinic, d2_day) cost another random B-tree insert per booking (7–10%
-- of the writer's throughput in `yeyak bench`) for a query run once per clinic per day.
CREATE INDEX booking_d1_clinic_day ON booking (d1_clinic, d1_day);

-- The first answer to a request made with an Idempotency-Key, so a retry gets it again.
CREATE TABLE idempotency (
    actor       INTEGER NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    booking     INTEGER,
    error       TEXT,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (actor, key)
) WITHOUT ROWID;

-- Messages to people, written in the same transaction as the change they announce.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    person       INTEGER,
    recipient    BLOB NOT NULL,
    template     TEXT NOT NULL,
    body_ko      TEXT NOT NULL,
    body_en      TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    delivered_ms INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_ms IS NULL;

-- Small documents: the eligibility rules, world metadata, signing keys.
CREATE TABLE setting (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- yeyak's PostgreSQL schema, version 1: the same tables as SQLite's version 5, in one step.
-- PostgreSQL has its own migration history (yeyak_schema); later versions add files.
-- Integers are BIGINT throughout (ids, day numbers, hours): one Rust type, no narrowing.
CREATE TABLE clinic (
    id           BIGINT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    municipality BIGINT NOT NULL,
    lat          DOUBLE PRECISION NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    open_hour    BIGINT NOT NULL,
    close_hour   BIGINT NOT NULL,
    per_band     BIGINT NOT NULL,
    saturdays    BOOLEAN NOT NULL
);

-- The standing supply plan: doses of a product a clinic receives for each day it is open.
CREATE TABLE clinic_product (
    clinic      BIGINT NOT NULL REFERENCES clinic (id),
    product     TEXT NOT NULL,
    daily_doses BIGINT NOT NULL,
    PRIMARY KEY (clinic, product)
);

-- A person is known by a keyed hash of their resident registration number; the number itself is
-- never stored. Name and phone are sealed (encrypted) by the server before they get here.
CREATE TABLE person (
    id         BIGINT PRIMARY KEY,
    rrn_hash   BYTEA NOT NULL UNIQUE,
    birth_date TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);

-- One row per booking: dose 1 and (for two-dose products) dose 2, same clinic and product.
CREATE TABLE booking (
    id         BIGINT PRIMARY KEY,
    person     BIGINT NOT NULL,
    booked_by  BIGINT NOT NULL,
    product    TEXT NOT NULL,
    d1_clinic  BIGINT NOT NULL,
    d1_day     BIGINT NOT NULL, -- days since 1970-01-01
    d1_hour    BIGINT NOT NULL,
    d1_status  TEXT NOT NULL,
    d2_clinic  BIGINT,
    d2_day     BIGINT,
    d2_hour    BIGINT,
    d2_status  TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- B2 enforced by the database too, not only by the writer's memory: one active booking a person.
CREATE UNIQUE INDEX booking_one_active_per_person ON booking (person)
    WHERE d1_status = 'booked' OR d2_status = 'booked';
CREATE INDEX booking_by_person ON booking (person);
CREATE INDEX booking_by_proxy ON booking (booked_by) WHERE booked_by != person;
-- A clinic's list for a day (dose 2 is at the dose-1 clinic: see SQLite's schema).
CREATE INDEX booking_d1_clinic_day ON booking (d1_clinic, d1_day);
-- The capacity guard's counts (booking_within_capacity below).
CREATE INDEX booking_d1_booked ON booking (d1_clinic, d1_day, d1_hour) WHERE d1_status = 'booked';
CREATE INDEX booking_d2_booked ON booking (d2_clinic, d2_day, d2_hour) WHERE d2_status = 'booked';

-- The first answer to a request made with an Idempotency-Key, so a retry gets it again.
CREATE TABLE idempotency (
    actor       BIGINT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    booking     BIGINT,
    error       TEXT,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (actor, key)
);

-- Messages to people, written in the same transaction as the change they announce. A failed
-- message waits until next_attempt_ms; after too many attempts it is parked (failed_ms).
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    person          BIGINT,
    recipient       BYTEA NOT NULL,
    template        TEXT NOT NULL,
    body_ko         TEXT NOT NULL,
    body_en         TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    delivered_ms    BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL DEFAULT 0,
    failed_ms       BIGINT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_ms, id)
    WHERE delivered_ms IS NULL AND failed_ms IS NULL;

-- Small documents: the eligibility rules, world metadata, signing keys.
CREATE TABLE setting (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The waiting room's durable record, one row per queue (an opening).
CREATE TABLE queue (
    id         BIGINT PRIMARY KEY,
    record     TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Members of uploaded priority lists, by keyed hash of their registration number.
CREATE TABLE priority_member (
    rrn_hash BYTEA NOT NULL,
    list_id  BIGINT NOT NULL,
    PRIMARY KEY (rrn_hash, list_id)
);

-- Planned doses per clinic, day and product where they differ from the standing plan.
CREATE TABLE delivery (
    clinic     BIGINT NOT NULL,
    day        BIGINT NOT NULL, -- days since 1970-01-01
    product    TEXT NOT NULL,
    doses      BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (clinic, day, product)
);

-- Every applied supply change and what it did.
CREATE TABLE supply_change (
    id           BIGSERIAL PRIMARY KEY,
    reason       TEXT NOT NULL,
    plan_id      TEXT NOT NULL,
    detail       TEXT NOT NULL,
    people_moved BIGINT NOT NULL,
    doses_moved  BIGINT NOT NULL,
    unplaced     BIGINT NOT NULL,
    informed     BIGINT NOT NULL,
    applied_ms   BIGINT NOT NULL
);

-- One row per dose a supply change moved (to_*) or could not place (to_* NULL).
CREATE TABLE reschedule (
    id           BIGSERIAL PRIMARY KEY,
    change_id    BIGINT NOT NULL REFERENCES supply_change (id),
    booking      BIGINT NOT NULL,
    person       BIGINT NOT NULL,
    dose         BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    from_clinic  BIGINT NOT NULL,
    from_day     BIGINT NOT NULL,
    from_hour    BIGINT NOT NULL,
    from_product TEXT NOT NULL,
    to_clinic    BIGINT,
    to_day       BIGINT,
    to_hour      BIGINT,
    to_product   TEXT,
    accepted_ms  BIGINT
);
CREATE INDEX reschedule_by_booking ON reschedule (booking);
CREATE INDEX reschedule_by_change ON reschedule (change_id);

-- Clinic staff and agents. A token is shown once when issued; only its SHA-256 is kept.
CREATE TABLE staff (
    id         BIGSERIAL PRIMARY KEY,
    role       TEXT NOT NULL,
    clinic     BIGINT,
    name       TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);

-- Every operator, clinic-staff and agent action, and what came of it. Append only.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL
);

-- Doses a clinic offers for today, until a time; claimed counts up to doses, never past it.
CREATE TABLE leftover_offer (
    id        BIGSERIAL PRIMARY KEY,
    clinic    BIGINT NOT NULL,
    product   TEXT NOT NULL,
    day       BIGINT NOT NULL,
    doses     BIGINT NOT NULL,
    claimed   BIGINT NOT NULL DEFAULT 0 CHECK (claimed <= doses),
    until_ms  BIGINT NOT NULL,
    posted_by BIGINT NOT NULL,
    posted_ms BIGINT NOT NULL
);
CREATE INDEX leftover_offer_by_day ON leftover_offer (day, clinic);

CREATE TABLE leftover_claim (
    offer      BIGINT NOT NULL REFERENCES leftover_offer (id),
    person     BIGINT NOT NULL,
    booking    BIGINT NOT NULL,
    claimed_ms BIGINT NOT NULL,
    PRIMARY KEY (offer, person)
);
CREATE INDEX leftover_claim_by_booking ON leftover_claim (booking);

-- People who asked to hear of leftover doses near a place (at most one place each).
CREATE TABLE leftover_subscription (
    person     BIGINT PRIMARY KEY,
    lat        DOUBLE PRECISION NOT NULL,
    lon        DOUBLE PRECISION NOT NULL,
    radius_km  DOUBLE PRECISION NOT NULL,
    products   TEXT NOT NULL, -- comma-separated product codes; empty for any
    updated_ms BIGINT NOT NULL
);
CREATE INDEX leftover_subscription_by_place ON leftover_subscription (lat, lon);

-- The capacity guard: no hour band holds more booked doses than the clinic's staff per band, and
-- no clinic-day more doses of a product than planned for it (the delivery entered for that day,
-- else the standing plan). The writer's ledger decides first; this refuses the commit of a batch
-- that would overbook anyway (a bug, or a node writing without owning the clinic). A leftover
-- claim's dose 1 uses the offer's doses, not the band's or the plan's, so it is not counted.
-- Checked at commit (DEFERRABLE INITIALLY DEFERRED): a supply change lowers a plan and moves the
-- bookings over it in one transaction, in either order.
CREATE FUNCTION place_within_capacity(c BIGINT, d BIGINT, h BIGINT, p TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    in_band BIGINT;
    of_product BIGINT;
    planned BIGINT;
BEGIN
    SELECT
        (SELECT COUNT(*) FROM booking b WHERE b.d1_clinic = c AND b.d1_day = d AND b.d1_hour = h
             AND b.d1_status = 'booked'
             AND NOT EXISTS (SELECT 1 FROM leftover_claim l WHERE l.booking = b.id))
      + (SELECT COUNT(*) FROM booking b WHERE b.d2_clinic = c AND b.d2_day = d AND b.d2_hour = h
             AND b.d2_status = 'booked')
    INTO in_band;
    IF in_band > (SELECT per_band FROM clinic WHERE id = c) THEN
        RAISE EXCEPTION 'overbooked: clinic % day % hour % holds % doses', c, d, h, in_band
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT
        (SELECT COUNT(*) FROM booking b WHERE b.d1_clinic = c AND b.d1_day = d AND b.product = p
             AND b.d1_status = 'booked'
             AND NOT EXISTS (SELECT 1 FROM leftover_claim l WHERE l.booking = b.id))
      + (SELECT COUNT(*) FROM booking b WHERE b.d2_clinic = c AND b.d2_day = d AND b.product = p
             AND b.d2_status = 'booked')
    INTO of_product;
    SELECT COALESCE(
        (SELECT doses FROM delivery WHERE clinic = c AND day = d AND product = p),
        (SELECT daily_doses FROM clinic_product WHERE clinic = c AND product = p),
        0)
    INTO planned;
    IF of_product > planned THEN
        RAISE EXCEPTION 'overbooked: clinic % day % product % holds % of % doses',
            c, d, p, of_product, planned
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

CREATE FUNCTION booking_within_capacity() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    now_row booking%ROWTYPE;
BEGIN
    -- The row as it is at commit: later changes in the same transaction count, earlier do not.
    SELECT * INTO now_row FROM booking WHERE id = NEW.id;
    IF now_row.d1_status = 'booked'
       AND NOT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = now_row.id) THEN
        PERFORM place_within_capacity(now_row.d1_clinic, now_row.d1_day, now_row.d1_hour,
                                      now_row.product);
    END IF;
    IF now_row.d2_status = 'booked' THEN
        PERFORM place_within_capacity(now_row.d2_clinic, now_row.d2_day, now_row.d2_hour,
                                      now_row.product);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER booking_within_capacity AFTER INSERT OR UPDATE ON booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.d1_status = 'booked' OR NEW.d2_status = 'booked')
    EXECUTE FUNCTION booking_within_capacity();

-- A plan lowered below what is booked is refused the same way (at commit).
CREATE FUNCTION delivery_within_capacity() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM place_within_capacity(NEW.clinic, NEW.day, -1, NEW.product);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER delivery_within_capacity AFTER INSERT OR UPDATE ON delivery
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION delivery_within_capacity();

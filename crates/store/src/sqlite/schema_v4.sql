-- Version 4: supply. Planned doses per clinic, day and product where they differ from the clinic's
-- standing plan (clinic_product): delivery cuts, delays, product switches, imports.
CREATE TABLE delivery (
    clinic     INTEGER NOT NULL,
    day        INTEGER NOT NULL, -- days since 1970-01-01
    product    TEXT NOT NULL,
    doses      INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (clinic, day, product)
) WITHOUT ROWID;

-- Every applied supply change and what it did.
CREATE TABLE supply_change (
    id           INTEGER PRIMARY KEY,
    reason       TEXT NOT NULL,
    plan_id      TEXT NOT NULL,
    detail       TEXT NOT NULL, -- the change as the operator asked for it (JSON)
    people_moved INTEGER NOT NULL,
    doses_moved  INTEGER NOT NULL,
    unplaced     INTEGER NOT NULL,
    informed     INTEGER NOT NULL,
    applied_ms   INTEGER NOT NULL
);

-- One row per dose a supply change moved (to_*) or could not place (to_* NULL): why a person's
-- appointment changed, for them (until they accept it) and for the operator.
CREATE TABLE reschedule (
    id           INTEGER PRIMARY KEY,
    change_id    INTEGER NOT NULL REFERENCES supply_change (id),
    booking      INTEGER NOT NULL,
    person       INTEGER NOT NULL,
    dose         INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    from_clinic  INTEGER NOT NULL,
    from_day     INTEGER NOT NULL,
    from_hour    INTEGER NOT NULL,
    from_product TEXT NOT NULL,
    to_clinic    INTEGER,
    to_day       INTEGER,
    to_hour      INTEGER,
    to_product   TEXT,
    accepted_ms  INTEGER
);
CREATE INDEX reschedule_by_booking ON reschedule (booking);
CREATE INDEX reschedule_by_change ON reschedule (change_id);

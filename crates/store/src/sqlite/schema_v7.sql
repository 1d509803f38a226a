-- Version 7: the database refuses overbooking on its own, so a bug above it cannot oversell.
-- (Version 6 belongs to another change; this file does not depend on it.)
--
-- Every booked dose holds one place in its clinic's hour band and one dose of its product that
-- day, as in the writer's ledger. Triggers on `booking` keep a count per band and per supply
-- cell, with the cell's capacity worked out from the clinic, its standing plan and the planned
-- deliveries. A transaction in which a booking takes a place in a cell that is then over
-- capacity cannot commit: the cell is listed in `over_capacity`, whose rows point at a row of
-- `capacity_guard`, which is always empty, through a DEFERRED foreign key. SQLite checks it at
-- COMMIT, so the order of writes inside one transaction does not matter (a supply change may
-- move someone into a place another move frees later), only what is committed.
-- Needs `PRAGMA foreign_keys = ON` on the writing connection (every yeyak connection sets it).
--
-- What holds no place: doses given or cancelled, and dose 1 of a same-day leftover claim (it
-- comes from the clinic's spare doses; its claim row is written before its booking). A capacity
-- cut alone refuses nothing: bookings already over a cut are for rescheduling to move; only a
-- booking newly taking a place beyond capacity is refused.

CREATE TABLE band_use (
    clinic   INTEGER NOT NULL,
    day      INTEGER NOT NULL, -- days since 1970-01-01
    hour     INTEGER NOT NULL,
    booked   INTEGER NOT NULL,
    capacity INTEGER NOT NULL,
    PRIMARY KEY (clinic, day, hour)
) WITHOUT ROWID;

CREATE TABLE supply_use (
    clinic   INTEGER NOT NULL,
    day      INTEGER NOT NULL,
    product  TEXT NOT NULL,
    booked   INTEGER NOT NULL,
    capacity INTEGER NOT NULL,
    PRIMARY KEY (clinic, day, product)
) WITHOUT ROWID;

-- Always empty: a row of over_capacity can never find its parent, so a transaction that still
-- has one at COMMIT fails with "FOREIGN KEY constraint failed".
CREATE TABLE capacity_guard (id INTEGER PRIMARY KEY);
CREATE TRIGGER capacity_guard_stays_empty BEFORE INSERT ON capacity_guard
BEGIN
    SELECT RAISE(ABORT, 'capacity_guard must stay empty');
END;

CREATE TABLE over_capacity (
    kind   TEXT NOT NULL,    -- 'band' (slot: the hour) or 'supply' (slot: the product)
    clinic INTEGER NOT NULL,
    day    INTEGER NOT NULL,
    slot   TEXT NOT NULL,
    guard  INTEGER NOT NULL DEFAULT 1
        REFERENCES capacity_guard (id) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (kind, clinic, day, slot)
) WITHOUT ROWID;

-- Leftover claims are looked up by booking on every booking write.
CREATE INDEX leftover_claim_by_booking ON leftover_claim (booking);

-- Adds `band` to a band count and `supply` to a supply count (each -1, 0 or +1), creating the
-- count with its capacity on first use. A view with an INSTEAD OF trigger is SQLite's stored
-- procedure: nothing is stored in it.
CREATE VIEW place_delta (clinic, day, hour, product, band, supply) AS
    SELECT 0, 0, 0, '', 0, 0 WHERE 0;

CREATE TRIGGER place_delta_counts INSTEAD OF INSERT ON place_delta
BEGIN
    -- A band's capacity: the clinic's people per band when it is open then (Sunday closed,
    -- Saturday only if it opens Saturdays, within its hours), else none.
    INSERT INTO band_use (clinic, day, hour, booked, capacity)
    SELECT NEW.clinic, NEW.day, NEW.hour, 0, COALESCE((
        SELECT CASE
            WHEN (NEW.day % 7 + 11) % 7 = 0 THEN 0
            WHEN (NEW.day % 7 + 11) % 7 = 6 AND NOT c.saturdays THEN 0
            WHEN NEW.hour < c.open_hour OR NEW.hour >= c.close_hour THEN 0
            ELSE c.per_band END
        FROM clinic c WHERE c.id = NEW.clinic), 0)
    WHERE NEW.band != 0 AND NOT EXISTS (
        SELECT 1 FROM band_use
        WHERE clinic = NEW.clinic AND day = NEW.day AND hour = NEW.hour);
    UPDATE band_use SET booked = booked + NEW.band
    WHERE NEW.band != 0 AND clinic = NEW.clinic AND day = NEW.day AND hour = NEW.hour;

    -- A new supply count starts with capacity -1 ("not worked out yet"), then gets it.
    INSERT INTO supply_use (clinic, day, product, booked, capacity)
    SELECT NEW.clinic, NEW.day, NEW.product, 0, -1
    WHERE NEW.supply != 0 AND NOT EXISTS (
        SELECT 1 FROM supply_use
        WHERE clinic = NEW.clinic AND day = NEW.day AND product = NEW.product);
    INSERT INTO supply_capacity_refresh (clinic, day, product)
    SELECT NEW.clinic, NEW.day, NEW.product
    WHERE NEW.supply != 0 AND EXISTS (
        SELECT 1 FROM supply_use WHERE clinic = NEW.clinic AND day = NEW.day
            AND product = NEW.product AND capacity = -1);
    UPDATE supply_use SET booked = booked + NEW.supply
    WHERE NEW.supply != 0 AND clinic = NEW.clinic AND day = NEW.day AND product = NEW.product;
END;

-- Recomputes one supply cell's capacity: the planned delivery when one was entered, else the
-- standing daily plan on days the clinic opens; nothing for a product the clinic does not offer.
CREATE VIEW supply_capacity_refresh (clinic, day, product) AS SELECT 0, 0, '' WHERE 0;

CREATE TRIGGER supply_capacity_refresh_sets INSTEAD OF INSERT ON supply_capacity_refresh
BEGIN
    UPDATE supply_use SET capacity = COALESCE((
        SELECT COALESCE(
            (SELECT d.doses FROM delivery d
             WHERE d.clinic = NEW.clinic AND d.day = NEW.day AND d.product = NEW.product),
            CASE
                WHEN (NEW.day % 7 + 11) % 7 = 0 THEN 0
                WHEN (NEW.day % 7 + 11) % 7 = 6 AND NOT c.saturdays THEN 0
                WHEN c.open_hour >= c.close_hour THEN 0
                ELSE cp.daily_doses END)
        FROM clinic_product cp JOIN clinic c ON c.id = cp.clinic
        WHERE cp.clinic = NEW.clinic AND cp.product = NEW.product), 0)
    WHERE clinic = NEW.clinic AND day = NEW.day AND product = NEW.product;
END;

-- A count that grew past its capacity is listed; one back within capacity is cleared.
CREATE TRIGGER band_use_over AFTER UPDATE OF booked ON band_use
WHEN NEW.booked > OLD.booked AND NEW.booked > NEW.capacity
BEGIN
    INSERT OR IGNORE INTO over_capacity (kind, clinic, day, slot)
    VALUES ('band', NEW.clinic, NEW.day, CAST(NEW.hour AS TEXT));
END;
CREATE TRIGGER band_use_within AFTER UPDATE ON band_use
WHEN NEW.booked <= NEW.capacity AND OLD.booked > OLD.capacity
BEGIN
    DELETE FROM over_capacity
    WHERE kind = 'band' AND clinic = NEW.clinic AND day = NEW.day
        AND slot = CAST(NEW.hour AS TEXT);
END;
CREATE TRIGGER supply_use_over AFTER UPDATE OF booked ON supply_use
WHEN NEW.booked > OLD.booked AND NEW.booked > NEW.capacity
BEGIN
    INSERT OR IGNORE INTO over_capacity (kind, clinic, day, slot)
    VALUES ('supply', NEW.clinic, NEW.day, NEW.product);
END;
CREATE TRIGGER supply_use_within AFTER UPDATE ON supply_use
WHEN NEW.booked <= NEW.capacity AND OLD.booked > OLD.capacity
BEGIN
    DELETE FROM over_capacity
    WHERE kind = 'supply' AND clinic = NEW.clinic AND day = NEW.day AND slot = NEW.product;
END;

-- Planned deliveries change supply capacity.
CREATE TRIGGER delivery_inserted AFTER INSERT ON delivery
BEGIN
    INSERT INTO supply_capacity_refresh VALUES (NEW.clinic, NEW.day, NEW.product);
END;
CREATE TRIGGER delivery_updated AFTER UPDATE ON delivery
BEGIN
    INSERT INTO supply_capacity_refresh VALUES (OLD.clinic, OLD.day, OLD.product);
    INSERT INTO supply_capacity_refresh VALUES (NEW.clinic, NEW.day, NEW.product);
END;
CREATE TRIGGER delivery_deleted AFTER DELETE ON delivery
BEGIN
    INSERT INTO supply_capacity_refresh VALUES (OLD.clinic, OLD.day, OLD.product);
END;

-- Bookings take and give back places. On an update only what changed moves: a dose that keeps
-- its band (or its day and product) neither gives back nor takes that place again.
CREATE TRIGGER booking_inserted AFTER INSERT ON booking
BEGIN
    INSERT INTO place_delta
    SELECT NEW.d1_clinic, NEW.d1_day, NEW.d1_hour, NEW.product, 1, 1
    WHERE NEW.d1_status = 'booked'
      AND NOT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = NEW.id);
    INSERT INTO place_delta
    SELECT NEW.d2_clinic, NEW.d2_day, NEW.d2_hour, NEW.product, 1, 1
    WHERE NEW.d2_status = 'booked';
END;

CREATE TRIGGER booking_deleted AFTER DELETE ON booking
BEGIN
    INSERT INTO place_delta
    SELECT OLD.d1_clinic, OLD.d1_day, OLD.d1_hour, OLD.product, -1, -1
    WHERE OLD.d1_status = 'booked'
      AND NOT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = OLD.id);
    INSERT INTO place_delta
    SELECT OLD.d2_clinic, OLD.d2_day, OLD.d2_hour, OLD.product, -1, -1
    WHERE OLD.d2_status = 'booked';
END;

CREATE TRIGGER booking_updated AFTER UPDATE ON booking
BEGIN
    -- For each dose: whether it held (o) and holds (n) a place, and whether it kept its band
    -- and its supply cell. A row with s = -1 gives back the old place, one with s = +1 takes the
    -- new one; a cell the dose kept is neither given back nor taken again. Only the end of the
    -- transaction is checked, so their order does not matter.
    INSERT INTO place_delta
    SELECT iif(s < 0, OLD.d1_clinic, NEW.d1_clinic), iif(s < 0, OLD.d1_day, NEW.d1_day),
           iif(s < 0, OLD.d1_hour, NEW.d1_hour), iif(s < 0, OLD.product, NEW.product),
           s * NOT (o AND n AND same_band), s * NOT (o AND n AND same_supply)
    FROM (SELECT -1 AS s UNION ALL SELECT 1),
         (SELECT OLD.d1_status = 'booked' AND NOT spare AS o,
                 NEW.d1_status = 'booked' AND NOT spare AS n,
                 OLD.d1_clinic = NEW.d1_clinic AND OLD.d1_day = NEW.d1_day
                     AND OLD.d1_hour = NEW.d1_hour AS same_band,
                 OLD.d1_clinic = NEW.d1_clinic AND OLD.d1_day = NEW.d1_day
                     AND OLD.product = NEW.product AS same_supply
          FROM (SELECT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = NEW.id) AS spare))
    WHERE iif(s < 0, o, n) AND NOT (o AND n AND same_band AND same_supply);
    -- Dose 2 may be absent (NULL) before or after: compared with IS.
    INSERT INTO place_delta
    SELECT iif(s < 0, OLD.d2_clinic, NEW.d2_clinic), iif(s < 0, OLD.d2_day, NEW.d2_day),
           iif(s < 0, OLD.d2_hour, NEW.d2_hour), iif(s < 0, OLD.product, NEW.product),
           s * NOT (o AND n AND same_band), s * NOT (o AND n AND same_supply)
    FROM (SELECT -1 AS s UNION ALL SELECT 1),
         (SELECT OLD.d2_status IS 'booked' AS o,
                 NEW.d2_status IS 'booked' AS n,
                 OLD.d2_clinic IS NEW.d2_clinic AND OLD.d2_day IS NEW.d2_day
                     AND OLD.d2_hour IS NEW.d2_hour AS same_band,
                 OLD.d2_clinic IS NEW.d2_clinic AND OLD.d2_day IS NEW.d2_day
                     AND OLD.product = NEW.product AS same_supply)
    WHERE iif(s < 0, o, n) AND NOT (o AND n AND same_band AND same_supply);
END;

-- The counts for bookings made before this version. Cells already over capacity (a cut not
-- yet rescheduled) are counted as they are and not listed: only a new booking is refused.
INSERT INTO band_use (clinic, day, hour, booked, capacity)
SELECT clinic, day, hour, COUNT(*), 0 FROM (
    SELECT d1_clinic AS clinic, d1_day AS day, d1_hour AS hour FROM booking b
    WHERE d1_status = 'booked'
      AND NOT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = b.id)
    UNION ALL
    SELECT d2_clinic, d2_day, d2_hour FROM booking WHERE d2_status = 'booked')
GROUP BY clinic, day, hour;
UPDATE band_use SET capacity = COALESCE((
    SELECT CASE
        WHEN (band_use.day % 7 + 11) % 7 = 0 THEN 0
        WHEN (band_use.day % 7 + 11) % 7 = 6 AND NOT c.saturdays THEN 0
        WHEN band_use.hour < c.open_hour OR band_use.hour >= c.close_hour THEN 0
        ELSE c.per_band END
    FROM clinic c WHERE c.id = band_use.clinic), 0);
INSERT INTO supply_use (clinic, day, product, booked, capacity)
SELECT clinic, day, product, COUNT(*), 0 FROM (
    SELECT d1_clinic AS clinic, d1_day AS day, product FROM booking b
    WHERE d1_status = 'booked'
      AND NOT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = b.id)
    UNION ALL
    SELECT d2_clinic, d2_day, product FROM booking WHERE d2_status = 'booked')
GROUP BY clinic, day, product;
INSERT INTO supply_capacity_refresh SELECT clinic, day, product FROM supply_use;

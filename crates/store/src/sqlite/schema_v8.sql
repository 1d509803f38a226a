-- Version 8: the capacity guard of version 7, paid once per transaction instead of per booking.
--
-- Version 7 counted each booked place as it was written: per booking about twenty statements in
-- nested triggers (a view's INSTEAD OF trigger per dose, create-if-missing then update for each
-- count, triggers on the counts listing a cell that went over). It cut `yeyak bench` about
-- sixfold (bench/writer.md). Now a booking's trigger only notes the places it takes or gives
-- back in `place_change` (one append), and the transaction settles the notes at its end: one
-- statement per kind of count, grouped by cell, adds them up and flags a cell the
-- transaction left over capacity.
--
-- What the database still guarantees on its own:
-- * A transaction that writes a booking cannot commit before it settles: every row of
--   `place_change` points at the always-empty `capacity_guard` through a DEFERRED foreign key,
--   and settling deletes them. (yeyak's writer settles in its commit: `INSERT INTO
--   place_settle VALUES (0)`.)
-- * It cannot commit while a count it raised is over capacity: such a count's `over` column
--   points at `capacity_guard` too, the same way.
-- Only the end of the transaction counts, so the order of writes inside it does not matter (a
-- supply change may move someone into a place another move frees later).
--
-- As in version 7: given or cancelled doses and dose 1 of a same-day leftover claim hold no
-- place, and a capacity cut alone refuses nothing (bookings over a cut are for rescheduling to
-- move); only a transaction that takes places in a cell and leaves it over capacity is refused.
-- Needs `PRAGMA foreign_keys = ON` on the writing connection (every yeyak connection sets it).

DROP TRIGGER booking_inserted;
DROP TRIGGER booking_updated;
DROP TRIGGER booking_deleted;
DROP TRIGGER band_use_over;
DROP TRIGGER band_use_within;
DROP TRIGGER supply_use_over;
DROP TRIGGER supply_use_within;
DROP TRIGGER delivery_inserted;
DROP TRIGGER delivery_updated;
DROP TRIGGER delivery_deleted;
DROP TRIGGER place_delta_counts;
DROP VIEW place_delta;
DROP TRIGGER supply_capacity_refresh_sets;
DROP VIEW supply_capacity_refresh;
-- Empty at every commit (a row would have failed it).
DROP TABLE over_capacity;

-- 1 while the transaction has taken places in this cell and left it over capacity, else NULL.
ALTER TABLE band_use ADD COLUMN over INTEGER
    REFERENCES capacity_guard (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE supply_use ADD COLUMN over INTEGER
    REFERENCES capacity_guard (id) DEFERRABLE INITIALLY DEFERRED;
-- Only to name the cells when a commit is refused.
CREATE INDEX band_use_over ON band_use (clinic) WHERE over IS NOT NULL;
CREATE INDEX supply_use_over ON supply_use (clinic) WHERE over IS NOT NULL;

-- Places taken (+1) and given back (-1) by this transaction's booking writes, and supply cells
-- whose capacity may have changed (0, no hour), until it settles.
CREATE TABLE place_change (
    clinic    INTEGER NOT NULL,
    day       INTEGER NOT NULL, -- days since 1970-01-01
    hour      INTEGER,          -- NULL: a supply cell to work its capacity out again
    product   TEXT NOT NULL,
    delta     INTEGER NOT NULL,
    unsettled INTEGER NOT NULL DEFAULT 1
        REFERENCES capacity_guard (id) DEFERRABLE INITIALLY DEFERRED
);

-- Bookings note the places they take and give back. On an update the old places are given back
-- and the new ones taken: a dose that keeps its cell nets to nothing when settled.
CREATE TRIGGER booking_inserted AFTER INSERT ON booking
BEGIN
    INSERT INTO place_change (clinic, day, hour, product, delta)
    SELECT NEW.d1_clinic, NEW.d1_day, NEW.d1_hour, NEW.product, 1
    WHERE NEW.d1_status = 'booked'
      AND NOT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = NEW.id)
    UNION ALL
    SELECT NEW.d2_clinic, NEW.d2_day, NEW.d2_hour, NEW.product, 1
    WHERE NEW.d2_status = 'booked';
END;

CREATE TRIGGER booking_deleted AFTER DELETE ON booking
BEGIN
    INSERT INTO place_change (clinic, day, hour, product, delta)
    SELECT OLD.d1_clinic, OLD.d1_day, OLD.d1_hour, OLD.product, -1
    WHERE OLD.d1_status = 'booked'
      AND NOT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = OLD.id)
    UNION ALL
    SELECT OLD.d2_clinic, OLD.d2_day, OLD.d2_hour, OLD.product, -1
    WHERE OLD.d2_status = 'booked';
END;

CREATE TRIGGER booking_updated AFTER UPDATE ON booking
BEGIN
    INSERT INTO place_change (clinic, day, hour, product, delta)
    SELECT OLD.d1_clinic, OLD.d1_day, OLD.d1_hour, OLD.product, -1
    FROM (SELECT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = NEW.id) AS spare)
    WHERE OLD.d1_status = 'booked' AND NOT spare
    UNION ALL
    SELECT NEW.d1_clinic, NEW.d1_day, NEW.d1_hour, NEW.product, 1
    FROM (SELECT EXISTS (SELECT 1 FROM leftover_claim WHERE booking = NEW.id) AS spare)
    WHERE NEW.d1_status = 'booked' AND NOT spare
    UNION ALL
    SELECT OLD.d2_clinic, OLD.d2_day, OLD.d2_hour, OLD.product, -1
    WHERE OLD.d2_status IS 'booked'
    UNION ALL
    SELECT NEW.d2_clinic, NEW.d2_day, NEW.d2_hour, NEW.product, 1
    WHERE NEW.d2_status IS 'booked';
END;

-- Planned deliveries change supply capacity: the cell is worked out again when settled.
CREATE TRIGGER delivery_inserted AFTER INSERT ON delivery
BEGIN
    INSERT INTO place_change (clinic, day, hour, product, delta)
    VALUES (NEW.clinic, NEW.day, NULL, NEW.product, 0);
END;
CREATE TRIGGER delivery_updated AFTER UPDATE ON delivery
BEGIN
    INSERT INTO place_change (clinic, day, hour, product, delta)
    VALUES (OLD.clinic, OLD.day, NULL, OLD.product, 0), (NEW.clinic, NEW.day, NULL, NEW.product, 0);
END;
CREATE TRIGGER delivery_deleted AFTER DELETE ON delivery
BEGIN
    INSERT INTO place_change (clinic, day, hour, product, delta)
    VALUES (OLD.clinic, OLD.day, NULL, OLD.product, 0);
END;

-- Settles the transaction's notes: `INSERT INTO place_settle VALUES (0)` before COMMIT. Each
-- cell noted gets its count moved by the sum of its notes and its capacity worked out afresh:
-- a band's, the clinic's people per band when it is open then (Sunday closed, Saturday only if
-- it opens Saturdays, within its hours), else none; a supply cell's, the planned delivery when
-- one was entered, else the standing daily plan on days the clinic opens, nothing for a product
-- the clinic does not offer. A cell whose count grew and is over capacity is flagged (`over`);
-- one that did not grow keeps its flag only while it is still over.
CREATE VIEW place_settle (x) AS SELECT 0 WHERE 0;

CREATE TRIGGER place_settle_counts INSTEAD OF INSERT ON place_settle
BEGIN
    INSERT INTO band_use (clinic, day, hour, booked, capacity, over)
    SELECT clinic, day, hour, taken, capacity, iif(taken > 0 AND taken > capacity, 1, NULL)
    FROM (
        SELECT p.clinic, p.day, p.hour, SUM(p.delta) AS taken, COALESCE((
            SELECT CASE
                WHEN (p.day % 7 + 11) % 7 = 0 THEN 0
                WHEN (p.day % 7 + 11) % 7 = 6 AND NOT c.saturdays THEN 0
                WHEN p.hour < c.open_hour OR p.hour >= c.close_hour THEN 0
                ELSE c.per_band END
            FROM clinic c WHERE c.id = p.clinic), 0) AS capacity
        FROM place_change p WHERE p.hour IS NOT NULL
        GROUP BY p.clinic, p.day, p.hour)
    WHERE taken != 0
    ON CONFLICT (clinic, day, hour) DO UPDATE SET
        booked = booked + excluded.booked,
        capacity = excluded.capacity,
        over = iif(booked + excluded.booked > excluded.capacity,
                   iif(excluded.booked > 0, 1, over), NULL);

    INSERT INTO supply_use (clinic, day, product, booked, capacity, over)
    SELECT clinic, day, product, taken, capacity, iif(taken > 0 AND taken > capacity, 1, NULL)
    FROM (
        SELECT p.clinic, p.day, p.product, SUM(p.delta) AS taken, COALESCE((
            SELECT COALESCE(
                (SELECT d.doses FROM delivery d
                 WHERE d.clinic = p.clinic AND d.day = p.day AND d.product = p.product),
                CASE
                    WHEN (p.day % 7 + 11) % 7 = 0 THEN 0
                    WHEN (p.day % 7 + 11) % 7 = 6 AND NOT c.saturdays THEN 0
                    WHEN c.open_hour >= c.close_hour THEN 0
                    ELSE cp.daily_doses END)
            FROM clinic_product cp JOIN clinic c ON c.id = cp.clinic
            WHERE cp.clinic = p.clinic AND cp.product = p.product), 0) AS capacity,
            -- A capacity note (0) counts even when no place moved: the cell is worked out again.
            MIN(p.delta != 0) AS only_places
        FROM place_change p
        GROUP BY p.clinic, p.day, p.product)
    WHERE taken != 0 OR NOT only_places
    ON CONFLICT (clinic, day, product) DO UPDATE SET
        booked = booked + excluded.booked,
        capacity = excluded.capacity,
        over = iif(booked + excluded.booked > excluded.capacity,
                   iif(excluded.booked > 0, 1, over), NULL);

    DELETE FROM place_change;
END;

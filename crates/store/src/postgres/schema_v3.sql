-- Version 3: the capacity guard counts as SQLite's does (its schema version 7), so both backends
-- refuse the same writes (`tests/conformance/faults.rs` checks them alike):
--
-- * a band's capacity is the clinic's people per band only while it is open (none on Sundays,
--   on Saturdays unless it opens then, or outside its hours); a product-day's is the planned
--   delivery if one was entered, else the standing plan on days the clinic opens, and none for a
--   product the clinic does not offer;
-- * only a booked dose newly taking a place is checked: a dose that keeps its band (or its day
--   and product) is not refused for a cell that is over capacity, and a supply cut alone refuses
--   nothing (the cut is a fact; rescheduling moves or cancels the doses over it, and any booking
--   that then takes a place beyond it is refused).
--
-- Still checked at commit (deferred), on the rows as they are then: the order of a
-- transaction's writes does not matter.
DROP TRIGGER delivery_within_capacity ON delivery;
DROP FUNCTION delivery_within_capacity();
DROP TRIGGER booking_within_capacity ON booking;
DROP FUNCTION booking_within_capacity();
DROP FUNCTION place_within_capacity(BIGINT, BIGINT, BIGINT, TEXT);

-- Day numbers count from Thursday 1970-01-01: (d % 7 + 11) % 7 is 0 on Sundays, 6 on Saturdays.
CREATE FUNCTION band_capacity(c BIGINT, d BIGINT, h BIGINT) RETURNS BIGINT
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
        SELECT CASE
            WHEN (d % 7 + 11) % 7 = 0 THEN 0
            WHEN (d % 7 + 11) % 7 = 6 AND NOT k.saturdays THEN 0
            WHEN h < k.open_hour OR h >= k.close_hour THEN 0
            ELSE k.per_band END
        FROM clinic k WHERE k.id = c), 0)
$$;

CREATE FUNCTION supply_capacity(c BIGINT, d BIGINT, p TEXT) RETURNS BIGINT
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
        SELECT COALESCE(
            (SELECT doses FROM delivery WHERE clinic = c AND day = d AND product = p),
            CASE
                WHEN (d % 7 + 11) % 7 = 0 THEN 0
                WHEN (d % 7 + 11) % 7 = 6 AND NOT k.saturdays THEN 0
                WHEN k.open_hour >= k.close_hour THEN 0
                ELSE cp.daily_doses END)
        FROM clinic_product cp JOIN clinic k ON k.id = cp.clinic
        WHERE cp.clinic = c AND cp.product = p), 0)
$$;

-- Refuses the commit when band (c, d, h) holds more booked doses than it has places.
CREATE FUNCTION band_within_capacity(c BIGINT, d BIGINT, h BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    booked BIGINT;
    places BIGINT := band_capacity(c, d, h);
BEGIN
    SELECT
        (SELECT COUNT(*) FROM booking b WHERE b.d1_clinic = c AND b.d1_day = d AND b.d1_hour = h
             AND b.d1_status = 'booked'
             AND NOT EXISTS (SELECT 1 FROM leftover_claim l WHERE l.booking = b.id))
      + (SELECT COUNT(*) FROM booking b WHERE b.d2_clinic = c AND b.d2_day = d AND b.d2_hour = h
             AND b.d2_status = 'booked')
    INTO booked;
    IF booked > places THEN
        RAISE EXCEPTION 'overbooked: clinic % day % hour % holds % of % places',
            c, d, h, booked, places
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

-- Refuses the commit when clinic c holds more booked doses of product p on day d than planned.
CREATE FUNCTION supply_within_capacity(c BIGINT, d BIGINT, p TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    booked BIGINT;
    planned BIGINT := supply_capacity(c, d, p);
BEGIN
    SELECT
        (SELECT COUNT(*) FROM booking b WHERE b.d1_clinic = c AND b.d1_day = d AND b.product = p
             AND b.d1_status = 'booked'
             AND NOT EXISTS (SELECT 1 FROM leftover_claim l WHERE l.booking = b.id))
      + (SELECT COUNT(*) FROM booking b WHERE b.d2_clinic = c AND b.d2_day = d AND b.product = p
             AND b.d2_status = 'booked')
    INTO booked;
    IF booked > planned THEN
        RAISE EXCEPTION 'overbooked: clinic % day % product % holds % of % doses',
            c, d, p, booked, planned
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

-- For each dose booked at commit: checks the band and the product-day it takes, unless this
-- write found it already holding that same place (an update that kept it). Dose 1 of a
-- same-day leftover claim takes no planned place (its claim row is written before it).
CREATE FUNCTION booking_within_capacity() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    now_row booking%ROWTYPE;
    spare BOOLEAN;
    kept_band1 BOOLEAN := FALSE;
    kept_supply1 BOOLEAN := FALSE;
    kept_band2 BOOLEAN := FALSE;
    kept_supply2 BOOLEAN := FALSE;
BEGIN
    SELECT * INTO now_row FROM booking WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    spare := EXISTS (SELECT 1 FROM leftover_claim WHERE booking = now_row.id);
    IF TG_OP = 'UPDATE' THEN
        kept_supply1 := OLD.d1_status = 'booked' AND OLD.d1_clinic = now_row.d1_clinic
            AND OLD.d1_day = now_row.d1_day AND OLD.product = now_row.product;
        kept_band1 := kept_supply1 AND OLD.d1_hour = now_row.d1_hour;
        kept_supply2 := COALESCE(OLD.d2_status = 'booked', FALSE)
            AND OLD.d2_clinic IS NOT DISTINCT FROM now_row.d2_clinic
            AND OLD.d2_day IS NOT DISTINCT FROM now_row.d2_day
            AND OLD.product = now_row.product;
        kept_band2 := kept_supply2 AND OLD.d2_hour IS NOT DISTINCT FROM now_row.d2_hour;
    END IF;
    IF now_row.d1_status = 'booked' AND NOT spare THEN
        IF NOT kept_band1 THEN
            PERFORM band_within_capacity(now_row.d1_clinic, now_row.d1_day, now_row.d1_hour);
        END IF;
        IF NOT kept_supply1 THEN
            PERFORM supply_within_capacity(now_row.d1_clinic, now_row.d1_day, now_row.product);
        END IF;
    END IF;
    IF now_row.d2_status = 'booked' THEN
        IF NOT kept_band2 THEN
            PERFORM band_within_capacity(now_row.d2_clinic, now_row.d2_day, now_row.d2_hour);
        END IF;
        IF NOT kept_supply2 THEN
            PERFORM supply_within_capacity(now_row.d2_clinic, now_row.d2_day, now_row.product);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER booking_within_capacity AFTER INSERT OR UPDATE ON booking
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.d1_status = 'booked' OR NEW.d2_status = 'booked')
    EXECUTE FUNCTION booking_within_capacity();

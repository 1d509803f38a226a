-- Version 8: a standby's view of a part it does not write is kept up with the bookings written
-- since it last looked, not read whole every second (`PgWriter::view_changes`). Every booking
-- row written carries a stamp from one sequence, taken when the row is written. A part's
-- bookings are written only inside transactions that hold its lease row (the fence updates it
-- first), one after another, so in any snapshot a part's rows still to commit will carry larger
-- stamps than every one of its rows already committed: a view that read the part's rows up to
-- stamp S misses nothing when it next reads those above S.
CREATE SEQUENCE booking_stamp;
-- The lease row is stamped too whenever it is taken or renewed (the fence included): a part's
-- rows written after that carry larger stamps, so a view of a part nobody writes just now moves
-- its mark up to the lease's instead of reading every other part's new rows again and again.
ALTER TABLE ledger_lease ADD COLUMN stamp BIGINT NOT NULL DEFAULT 0;
ALTER TABLE booking ADD COLUMN stamp BIGINT NOT NULL DEFAULT 0;
CREATE INDEX booking_by_stamp ON booking (stamp);
CREATE FUNCTION booking_stamped() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    NEW.stamp := nextval('booking_stamp');
    RETURN NEW;
END $$;
CREATE TRIGGER booking_stamped BEFORE INSERT OR UPDATE ON booking
    FOR EACH ROW EXECUTE FUNCTION booking_stamped();

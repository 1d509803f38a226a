-- Version 4: where the lease holder answers. A node that does not hold the ledger forwards a
-- booking write to the holder's address (`serve --advertise`), so every node takes bookings;
-- NULL when the holder advertises none (its standbys then answer 503 as before).
ALTER TABLE ledger_lease ADD COLUMN address TEXT;

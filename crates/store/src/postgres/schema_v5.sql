-- Version 5: a supply change is applied in pieces, each its own transaction, so bookings are
-- decided between them. The record counts the pieces and those committed; an apply interrupted
-- between pieces shows fewer done than planned (changes before this version: one piece, done).
ALTER TABLE supply_change ADD COLUMN pieces INTEGER NOT NULL DEFAULT 1;
ALTER TABLE supply_change ADD COLUMN pieces_done INTEGER NOT NULL DEFAULT 1;

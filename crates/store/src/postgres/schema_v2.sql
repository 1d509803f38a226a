-- Version 2: the writer's lease. One node at a time decides and writes bookings for a part of
-- the ledger (today: partition 0, the whole ledger). The row says who holds it, until when (on the
-- database's clock, never a node's), and the epoch: it grows with every new holder, and every batch
-- checks it inside its own transaction, so a node that paused past its lease cannot commit.
CREATE TABLE ledger_lease (
    partition  BIGINT PRIMARY KEY,
    owner      TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Version 6: one waiting room across nodes. The record (`queue`, since version 1) is changed by
-- compare-and-swap on its revision; these tables hold what the nodes share besides it.

-- Each verified person's draw number in a queue: dense from 0, the same on every node.
-- `queue_draw_count` is the per-queue counter whose row lock hands the numbers out one by one.
CREATE TABLE queue_draw (
    queue  BIGINT NOT NULL,
    person BIGINT NOT NULL,
    draw   BIGINT NOT NULL,
    PRIMARY KEY (queue, person),
    UNIQUE (queue, draw)
);
CREATE TABLE queue_draw_count (
    queue BIGINT PRIMARY KEY,
    drawn BIGINT NOT NULL
);

-- What each node saw of the booking side, left for the node that runs the admission
-- controller, which takes (deletes) them every tick.
CREATE TABLE queue_report (
    seq            BIGSERIAL PRIMARY KEY,
    queue          BIGINT NOT NULL,
    node           TEXT NOT NULL,
    at_ms          BIGINT NOT NULL,
    active         BIGINT[] NOT NULL,
    latency_p99_ms INTEGER,
    saturated      BOOLEAN NOT NULL,
    started        BIGINT[] NOT NULL,
    empty          BIGINT[] NOT NULL
);

-- Key lists every node holds alike (the waiting room's signing keys, the token signing keys),
-- in the keys-file format ("id created_unix_s hex" per line), changed by compare-and-swap.
CREATE TABLE shared_keys (
    name     TEXT PRIMARY KEY,
    lines    TEXT NOT NULL,
    revision BIGINT NOT NULL
);

-- Version 2: the waiting room's durable record, one row per queue (an opening). The record is a
-- handful of counters and the opening's shuffle key: nothing per person.
CREATE TABLE queue (
    id         INTEGER PRIMARY KEY,
    record     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);

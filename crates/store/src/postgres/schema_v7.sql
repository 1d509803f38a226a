-- Version 7: the ledger's parts spread over the nodes. Each node says it is alive here (renewed
-- like a lease, on the database's clock), so every node can count the live ones and hold no
-- more than its fair share of the parts (`postgres::spread`). Not a fence: the lease rows are.
CREATE TABLE ledger_node (
    node       TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Version 3: members of uploaded priority lists, by keyed hash of their registration number.
CREATE TABLE priority_member (
    rrn_hash BLOB NOT NULL,
    list_id  INTEGER NOT NULL,
    PRIMARY KEY (rrn_hash, list_id)
) WITHOUT ROWID;

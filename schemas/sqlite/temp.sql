-- Temporary tables of one mining. SQLite and Cloudflare D1 (D1 is SQLite):
-- keep to plain SQLite DDL (no PRAGMA, no extensions). JSON is stored as TEXT.
-- Every row carries mining_id; a mining's rows are deleted when it ends
-- (and by the cleanup job when a mining dies).

CREATE TABLE IF NOT EXISTS mining_messages (
    mining_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    date        TEXT NOT NULL,          -- ISO 8601 UTC, '' when unknown (sorts first)
    record_json TEXT NOT NULL,          -- MessageRecord without its points and body
    body        TEXT,                   -- capped text body (read by the signature stage only)
    PRIMARY KEY (mining_id, message_id)
);
CREATE INDEX IF NOT EXISTS mining_messages_date ON mining_messages (mining_id, date, message_id);

CREATE TABLE IF NOT EXISTS mining_points (
    mining_id  TEXT NOT NULL,
    message_id TEXT NOT NULL,
    field      TEXT NOT NULL,           -- from, to, cc, bcc, reply_to, ...
    email      TEXT NOT NULL,
    name       TEXT,
    PRIMARY KEY (mining_id, message_id, field, email)
);
CREATE INDEX IF NOT EXISTS mining_points_email ON mining_points (mining_id, email);

CREATE TABLE IF NOT EXISTS mining_cleaned (
    mining_id TEXT NOT NULL,
    email     TEXT NOT NULL,
    status    TEXT NOT NULL,            -- valid | invalid | unknown
    tags_json TEXT NOT NULL DEFAULT '[]',
    reason    TEXT,
    PRIMARY KEY (mining_id, email)
);

CREATE TABLE IF NOT EXISTS mining_signatures (
    mining_id      TEXT NOT NULL,
    email          TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    signature_json TEXT NOT NULL,
    PRIMARY KEY (mining_id, email)
);

CREATE TABLE IF NOT EXISTS mining_failures (
    mining_id TEXT NOT NULL,
    folder    TEXT NOT NULL,
    uid       TEXT NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (mining_id, folder, uid)
);

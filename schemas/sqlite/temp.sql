-- Temporary tables of one mining. SQLite and Cloudflare D1 (D1 is SQLite):
-- keep to plain SQLite DDL (no PRAGMA, no extensions). JSON is stored as TEXT.
-- Applied by the migration step (leadminer.adapters.sqlite), which records the
-- version of leadminer.schemas.SCHEMA_VERSIONS in PRAGMA user_version.
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
    position   INTEGER NOT NULL,        -- order of the point in its message
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

-- Queued modes (self-host, Cloudflare): what lets any runner pick a mining up
-- from its id, and the fan-in of the extract batches. The embedded runner
-- leaves these tables empty.
CREATE TABLE IF NOT EXISTS mining_runs (
    mining_id       TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    source          TEXT NOT NULL,      -- the source label (never a secret)
    identities_json TEXT NOT NULL DEFAULT '[]',  -- addresses given for this mining
    fetched         INTEGER NOT NULL DEFAULT 0,  -- progress while fetching, final once batches is set
    fetch_failed    INTEGER NOT NULL DEFAULT 0,
    total           INTEGER,            -- the source's estimate of what the fetch will read
    batches         INTEGER,            -- raw batches sent to extract; NULL while fetching
    clean_sent      INTEGER NOT NULL DEFAULT 0,  -- the hand-off to clean was claimed
    ended           INTEGER NOT NULL DEFAULT 0,  -- ended (stopped, failed) while a stage held its lock: rows go next
    fetch_state_json TEXT NOT NULL DEFAULT '[]', -- folder states to save once the mining is done
    options_json    TEXT NOT NULL DEFAULT '{}',  -- how to mine it (MiningOptions: e.g. extract_signatures)
    started         REAL NOT NULL,      -- Unix time
    updated         REAL NOT NULL       -- Unix time of the last progress (for the cleanup of dead minings)
);

CREATE TABLE IF NOT EXISTS mining_raw (   -- fetched messages waiting for extract (deleted once extracted)
    mining_id  TEXT NOT NULL,
    batch_no   INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    folder     TEXT NOT NULL,
    uid        TEXT NOT NULL,
    flags_json TEXT NOT NULL DEFAULT '[]',
    data       BLOB NOT NULL,
    PRIMARY KEY (mining_id, batch_no, position)
);

CREATE TABLE IF NOT EXISTS mining_batches (  -- extract batches done (once each, whatever the deliveries)
    mining_id     TEXT NOT NULL,
    batch_no      INTEGER NOT NULL,
    records       INTEGER NOT NULL,     -- messages parsed (new, already mined or duplicate)
    already_mined INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    contacts      INTEGER NOT NULL,
    PRIMARY KEY (mining_id, batch_no)
);

CREATE TABLE IF NOT EXISTS mining_steps (    -- later stages done, with their counts
    mining_id TEXT NOT NULL,
    step      TEXT NOT NULL,            -- clean | signature | refine
    count     INTEGER NOT NULL,
    PRIMARY KEY (mining_id, step)
);

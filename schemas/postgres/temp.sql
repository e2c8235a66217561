-- Temporary tables of one mining, self-host mode (STORAGE_MODE=postgresql):
-- the separate temp Postgres database (LEADMINER_TEMP_DATABASE_URL).
-- Same tables and columns as schemas/sqlite/temp.sql.
--
-- UNLOGGED: these rows are written once, read a few times and deleted within
-- minutes. Skipping the write-ahead log makes the bulk inserts several times
-- cheaper; the price (an unlogged table is emptied after a server crash and is
-- not replicated) is harmless here, because a mining whose temporary rows are
-- lost is re-run from the source (mining is idempotent by user + Message-ID).
--
-- JSON is jsonb. Dates stay text (ISO 8601 UTC, '' when unknown) so a record
-- comes back exactly as it was stored. Columns that are sorted or compared in
-- keyset paging use COLLATE "C": byte order, the same as SQLite's, whatever
-- the database's locale.
--
-- Applied by the migration step (runner/leadminer_runner/postgres.py), which
-- records the version of leadminer.schemas.SCHEMA_VERSIONS in
-- leadminer_schema_version. Temporary rows of another version are dropped,
-- not migrated.

CREATE TABLE IF NOT EXISTS leadminer_schema_version (
    component text PRIMARY KEY,             -- 'main' | 'temp'
    version   integer NOT NULL
);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_messages (
    mining_id   text COLLATE "C" NOT NULL,
    message_id  text COLLATE "C" NOT NULL,
    date        text COLLATE "C" NOT NULL,  -- ISO 8601 UTC, '' when unknown (sorts first)
    record_json jsonb NOT NULL,             -- MessageRecord without its points and body
    body        text,                       -- capped text body (read by the signature stage only)
    PRIMARY KEY (mining_id, message_id)
);
CREATE INDEX IF NOT EXISTS mining_messages_date ON mining_messages (mining_id, date, message_id);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_points (
    mining_id  text COLLATE "C" NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    position   integer NOT NULL,            -- order of the point in its message
    field      text NOT NULL,               -- from, to, cc, bcc, reply_to, ...
    email      text COLLATE "C" NOT NULL,
    name       text,
    PRIMARY KEY (mining_id, message_id, field, email)
);
CREATE INDEX IF NOT EXISTS mining_points_email ON mining_points (mining_id, email);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_cleaned (
    mining_id text COLLATE "C" NOT NULL,
    email     text COLLATE "C" NOT NULL,
    status    text NOT NULL,                -- valid | invalid | unknown
    tags_json jsonb NOT NULL DEFAULT '[]',
    reason    text,
    PRIMARY KEY (mining_id, email)
);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_signatures (
    mining_id      text COLLATE "C" NOT NULL,
    email          text COLLATE "C" NOT NULL,
    message_id     text NOT NULL,
    signature_json jsonb NOT NULL,
    PRIMARY KEY (mining_id, email)
);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_failures (
    mining_id text COLLATE "C" NOT NULL,
    folder    text COLLATE "C" NOT NULL,
    uid       text COLLATE "C" NOT NULL,
    reason    text NOT NULL,
    PRIMARY KEY (mining_id, folder, uid)
);

-- Queued modes: what lets any runner pick a mining up from its id, and the
-- fan-in of the extract batches (docs/architecture.md, "Self-host runner").
CREATE UNLOGGED TABLE IF NOT EXISTS mining_runs (
    mining_id        text COLLATE "C" PRIMARY KEY,
    user_id          text NOT NULL,
    source           text NOT NULL,           -- the source label (never a secret)
    identities_json  jsonb NOT NULL DEFAULT '[]',  -- addresses given for this mining
    fetched          integer NOT NULL DEFAULT 0,   -- progress while fetching, final once batches is set
    fetch_failed     integer NOT NULL DEFAULT 0,
    total            integer,                 -- the source's estimate of what the fetch will read
    batches          integer,                 -- raw batches sent to extract; NULL while fetching
    clean_sent       boolean NOT NULL DEFAULT false,  -- the hand-off to clean was claimed
    ended            boolean NOT NULL DEFAULT false,  -- ended (stopped, failed) while a stage held its lock: rows go next
    fetch_state_json jsonb NOT NULL DEFAULT '[]',     -- folder states to save once the mining is done
    options_json     jsonb NOT NULL DEFAULT '{}',     -- how to mine it (MiningOptions: e.g. extract_signatures)
    started          double precision NOT NULL,       -- Unix time
    updated          double precision NOT NULL        -- Unix time of the last progress (cleanup of dead minings)
);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_raw (  -- fetched messages waiting for extract (deleted once extracted)
    mining_id  text COLLATE "C" NOT NULL,
    batch_no   integer NOT NULL,
    position   integer NOT NULL,
    folder     text NOT NULL,
    uid        text NOT NULL,
    flags_json jsonb NOT NULL DEFAULT '[]',
    data       bytea NOT NULL,
    PRIMARY KEY (mining_id, batch_no, position)
);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_batches (  -- extract batches done (once each, whatever the deliveries)
    mining_id     text COLLATE "C" NOT NULL,
    batch_no      integer NOT NULL,
    records       integer NOT NULL,           -- messages parsed (new, already mined or duplicate)
    already_mined integer NOT NULL,
    failed        integer NOT NULL,
    contacts      integer NOT NULL,
    PRIMARY KEY (mining_id, batch_no)
);

CREATE UNLOGGED TABLE IF NOT EXISTS mining_steps (    -- later stages done, with their counts
    mining_id text COLLATE "C" NOT NULL,
    step      text NOT NULL,                  -- clean | signature | refine
    count     integer NOT NULL,
    PRIMARY KEY (mining_id, step)
);

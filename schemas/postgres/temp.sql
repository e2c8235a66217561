-- Temporary tables of one mining, self-host mode (STORAGE_MODE=postgresql):
-- the separate temp Postgres database (LEADMINER_TEMP_DATABASE_URL).
-- Same tables and columns as schemas/sqlite/temp.sql, plus
-- mining_points.position (SQLite keeps the points' order in its rowid).
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
-- Applied by runner/leadminer_runner/postgres.py when missing; the version in
-- leadminer_schema_version must equal TEMP_SCHEMA_VERSION there. Temporary
-- rows of another version are dropped, not migrated.

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

INSERT INTO leadminer_schema_version (component, version) VALUES ('temp', 1)
    ON CONFLICT (component) DO UPDATE SET version = excluded.version;

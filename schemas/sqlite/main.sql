-- Permanent tables for the embedded mode (SQLite). Same tables and columns as
-- the Postgres/Supabase main schema; JSON as TEXT, booleans as 0/1.

CREATE TABLE IF NOT EXISTS minings (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    source      TEXT NOT NULL,          -- never contains a password
    status      TEXT NOT NULL,          -- running | done | failed | canceled
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    stats_json  TEXT NOT NULL DEFAULT '{}'
);

-- Where the last mining of each folder stopped (IMAP UIDVALIDITY + highest UID).
CREATE TABLE IF NOT EXISTS fetch_state (
    user_id     TEXT NOT NULL,
    source      TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    highest_uid INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, source, folder)
);

-- Every failed message of every mining, with its reason (never capped).
CREATE TABLE IF NOT EXISTS failed_messages (
    mining_id TEXT NOT NULL,
    folder    TEXT NOT NULL,
    uid       TEXT NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (mining_id, folder, uid)
);

-- The user's own addresses: given (--identity, IMAP login) or found (Delivered-To).
CREATE TABLE IF NOT EXISTS user_identities (
    user_id  TEXT NOT NULL,
    email    TEXT NOT NULL,             -- canonical key (+tag removed)
    added_at TEXT NOT NULL,
    PRIMARY KEY (user_id, email)
);

-- Content-free facts about every mined message: makes re-mining idempotent
-- (user + Message-ID) and lets later minings thread replies onto old mail.
-- A message counts as mined only once the mining that indexed it is done
-- (minings.status), so a crash between indexing and storing persons is
-- repaired by mining again.
CREATE TABLE IF NOT EXISTS message_index (
    user_id     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    mining_id   TEXT NOT NULL,
    thread_id   TEXT NOT NULL,
    date        TEXT,
    from_key    TEXT,
    from_user   INTEGER NOT NULL DEFAULT 0,
    in_reply_to TEXT,
    tags_json   TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX IF NOT EXISTS message_index_thread ON message_index (user_id, thread_id);

CREATE TABLE IF NOT EXISTS occurrences (
    user_id    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    key        TEXT NOT NULL,           -- canonical address (+tag removed)
    email      TEXT NOT NULL,           -- address as seen (lower-cased)
    field      TEXT NOT NULL,
    name       TEXT,
    PRIMARY KEY (user_id, message_id, key, field)
);
CREATE INDEX IF NOT EXISTS occurrences_key ON occurrences (user_id, key);

CREATE TABLE IF NOT EXISTS refined_persons (
    user_id               TEXT NOT NULL,
    email                 TEXT NOT NULL,
    name                  TEXT,
    given_name            TEXT,
    family_name           TEXT,
    alternate_names_json  TEXT NOT NULL DEFAULT '[]',
    alternate_emails_json TEXT NOT NULL DEFAULT '[]',
    occurrence            INTEGER NOT NULL DEFAULT 0,
    sender                INTEGER NOT NULL DEFAULT 0,
    recipient             INTEGER NOT NULL DEFAULT 0,
    conversations         INTEGER NOT NULL DEFAULT 0,
    replied_conversations INTEGER NOT NULL DEFAULT 0,
    first_seen            TEXT,
    last_seen             TEXT,
    tags_json             TEXT NOT NULL DEFAULT '[]',
    status                TEXT NOT NULL DEFAULT 'unknown',
    temperature           INTEGER NOT NULL DEFAULT 0,
    direct_messages       INTEGER NOT NULL DEFAULT 0,
    direct_first          TEXT,
    direct_last           TEXT,
    signature_date        TEXT,             -- date of the message the signature fields come from
    job_title             TEXT,
    organization          TEXT,
    telephone_json        TEXT NOT NULL DEFAULT '[]',
    fax_json              TEXT NOT NULL DEFAULT '[]',
    address               TEXT,
    url                   TEXT,
    same_as_json          TEXT NOT NULL DEFAULT '[]',
    updated_at            TEXT NOT NULL,
    PRIMARY KEY (user_id, email)
);

-- The mailboxes a user mines from the API (self-host): the IMAP server, the login it
-- accepted (the full address, or its local part) and the password encrypted with
-- LEADMINER_SECRET_KEY (Fernet token): never in clear. Schema 2.
CREATE TABLE IF NOT EXISTS mining_sources (
    user_id             TEXT NOT NULL,
    email               TEXT NOT NULL,      -- as given, lower-cased
    host                TEXT NOT NULL,
    port                INTEGER NOT NULL,
    security            TEXT NOT NULL,      -- ssl | starttls | plain (the API's "secure")
    login               TEXT NOT NULL,      -- the user name the server accepted
    password_ciphertext TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (user_id, email)
);

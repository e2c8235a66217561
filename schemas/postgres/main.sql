-- Permanent tables, self-host mode (STORAGE_MODE=postgresql): the main
-- Postgres database (LEADMINER_DATABASE_URL). Plain PostgreSQL (13+) that is
-- also a valid Supabase migration ("same schema as Supabase").
--
-- Same tables and columns as schemas/sqlite/main.sql, with Postgres types:
-- JSON columns are jsonb (their names keep the _json suffix), booleans are
-- boolean, bookkeeping times (started_at, updated_at, ...) are timestamptz.
-- Dates that come from mail (message_index.date, first_seen, ...) stay text:
-- ISO 8601 UTC strings compared and returned exactly as the core wrote them.
-- Sorted text columns use COLLATE "C" (byte order, as in SQLite).
-- failed_messages gains a user_id (taken from its mining) so that every table
-- can be protected by the same row level security rule.
--
-- Users and row level security
-- * user_id is text: the embedded mode uses names such as 'local', and a
--   Supabase user id (a uuid) fits in text as well.
-- * Every table has RLS enabled with the policy user_id = auth.uid()::text.
--   On Supabase, auth.uid() is Supabase's own function (a uuid read from the
--   request's JWT); the cast makes the comparison work with text ids.
--   On plain Postgres, this file creates auth.uid() only when it does not
--   exist yet: it returns the setting request.jwt.claim.sub as text (what
--   PostgREST sets), NULL when unset, so a role without a claim sees nothing.
-- * The runner connects as the owner of the tables, and owners bypass RLS
--   (no FORCE ROW LEVEL SECURITY): the backend is trusted and works for every
--   user. RLS protects the tables when they are exposed to end users through
--   Supabase's API (or any non-owner role).
--
-- Schema version: leadminer_schema_version ('main', n). The migration step
-- (`leadminer db migrate`, runner/leadminer_runner/postgres.py) applies this
-- file when none of its tables exist and records the version of
-- leadminer.schemas.SCHEMA_VERSIONS; a database of an older version named in
-- leadminer.schemas.SCHEMA_UPGRADES is upgraded by applying this file again
-- (every statement is idempotent); any other version is refused
-- (SchemaVersionError).

CREATE SCHEMA IF NOT EXISTS auth;
DO $$
BEGIN
    IF to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS text
            LANGUAGE sql STABLE
            AS $f$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '') $f$;
        GRANT USAGE ON SCHEMA auth TO PUBLIC;
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS leadminer_schema_version (
    component text PRIMARY KEY,             -- 'main' | 'temp'
    version   integer NOT NULL
);

CREATE TABLE IF NOT EXISTS minings (
    id          text COLLATE "C" PRIMARY KEY,
    user_id     text NOT NULL,
    source      text NOT NULL,              -- never contains a password
    status      text NOT NULL,              -- running | done | failed | canceled | interrupted
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    stats_json  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS minings_user ON minings (user_id);

-- Where the last mining of each folder stopped (IMAP UIDVALIDITY + highest UID).
CREATE TABLE IF NOT EXISTS fetch_state (
    user_id     text NOT NULL,
    source      text NOT NULL,
    folder      text NOT NULL,
    uidvalidity bigint NOT NULL,
    highest_uid bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, source, folder)
);

-- Every failed message of every mining, with its reason (never capped).
CREATE TABLE IF NOT EXISTS failed_messages (
    user_id   text NOT NULL,                -- the mining's user ('' when the mining is unknown)
    mining_id text COLLATE "C" NOT NULL,
    folder    text COLLATE "C" NOT NULL,
    uid       text COLLATE "C" NOT NULL,
    reason    text NOT NULL,
    PRIMARY KEY (mining_id, folder, uid)
);

-- The user's own addresses: given (--identity, IMAP login) or found (Delivered-To).
CREATE TABLE IF NOT EXISTS user_identities (
    user_id  text NOT NULL,
    email    text NOT NULL,                 -- canonical key (+tag removed)
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, email)
);

-- Content-free facts about every mined message: makes re-mining idempotent
-- (user + Message-ID) and lets later minings thread replies onto old mail.
-- A message counts as mined only once the mining that indexed it is done
-- (minings.status), so a crash between indexing and storing persons is
-- repaired by mining again.
CREATE TABLE IF NOT EXISTS message_index (
    user_id     text NOT NULL,
    message_id  text COLLATE "C" NOT NULL,
    mining_id   text COLLATE "C" NOT NULL,
    thread_id   text COLLATE "C" NOT NULL,
    date        text COLLATE "C",
    from_key    text,
    from_user   boolean NOT NULL DEFAULT false,
    in_reply_to text,
    tags_json   jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX IF NOT EXISTS message_index_thread ON message_index (user_id, thread_id);
CREATE INDEX IF NOT EXISTS message_index_date ON message_index (user_id, date);

CREATE TABLE IF NOT EXISTS occurrences (
    user_id    text NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,   -- canonical address (+tag removed)
    email      text NOT NULL,               -- address as seen (lower-cased)
    field      text COLLATE "C" NOT NULL,
    name       text,
    PRIMARY KEY (user_id, message_id, key, field)
);
CREATE INDEX IF NOT EXISTS occurrences_key ON occurrences (user_id, key);

CREATE TABLE IF NOT EXISTS refined_persons (
    user_id               text NOT NULL,
    email                 text COLLATE "C" NOT NULL,
    name                  text,
    given_name            text,
    family_name           text,
    alternate_names_json  jsonb NOT NULL DEFAULT '[]',
    alternate_emails_json jsonb NOT NULL DEFAULT '[]',
    occurrence            integer NOT NULL DEFAULT 0,
    sender                integer NOT NULL DEFAULT 0,
    recipient             integer NOT NULL DEFAULT 0,
    conversations         integer NOT NULL DEFAULT 0,
    replied_conversations integer NOT NULL DEFAULT 0,
    first_seen            text,
    last_seen             text,
    tags_json             jsonb NOT NULL DEFAULT '[]',
    status                text NOT NULL DEFAULT 'unknown',
    temperature           integer NOT NULL DEFAULT 0,
    direct_messages       integer NOT NULL DEFAULT 0,
    direct_first          text,
    direct_last           text,
    signature_date        text,             -- date of the message the signature fields come from
    job_title             text,
    organization          text,
    telephone_json        jsonb NOT NULL DEFAULT '[]',
    fax_json              jsonb NOT NULL DEFAULT '[]',
    address               text,
    url                   text,
    same_as_json          jsonb NOT NULL DEFAULT '[]',
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, email)
);

-- The mailboxes a user mines from the API: the IMAP server, the login it accepted
-- (the full address, or its local part) and the password encrypted with
-- LEADMINER_SECRET_KEY (Fernet token): never in clear. Schema 2.
CREATE TABLE IF NOT EXISTS mining_sources (
    user_id             text NOT NULL,
    email               text COLLATE "C" NOT NULL,  -- as given, lower-cased
    host                text NOT NULL,
    port                integer NOT NULL,
    security            text NOT NULL,      -- ssl | starttls | plain (the API's "secure")
    login               text NOT NULL,      -- the user name the server accepted
    password_ciphertext text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, email)
);

-- Row level security: each user reaches only their own rows (see the header).
-- The version table has RLS and no policy: invisible to every non-owner role.
ALTER TABLE leadminer_schema_version ENABLE ROW LEVEL SECURITY;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['minings', 'fetch_state', 'failed_messages', 'user_identities',
                             'message_index', 'occurrences', 'refined_persons', 'mining_sources']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS own_rows ON %I', t);
        EXECUTE format('CREATE POLICY own_rows ON %I FOR ALL '
                       'USING (user_id = (SELECT auth.uid())::text) '
                       'WITH CHECK (user_id = (SELECT auth.uid())::text)', t);
    END LOOP;
END
$$;


-- Reading as a user (added with the contacts API; no new schema version: it is
-- idempotent, and an existing database can be given it by running this block).
-- PostgresMainStore.as_user(user_id) reads in a transaction under
-- SET LOCAL ROLE authenticated with the JWT claims of that user, so that the
-- policies above apply even to the backend's own reads. Supabase has the role
-- (and grants it everything on public tables); on plain PostgreSQL it is
-- created here, NOLOGIN, and the migrating role (the runner's) becomes a member
-- of it so that it may SET ROLE to it. It may only read and delete rows.
DO $$
DECLARE
    t name;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        BEGIN
            CREATE ROLE authenticated NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database of the cluster
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'authenticated', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT authenticated TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'leadminer: % cannot be made a member of the role authenticated: as_user() will fail', current_user;
        END;
    END IF;
    IF NOT has_schema_privilege('authenticated', current_schema(), 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO authenticated', current_schema());
    END IF;
    IF NOT has_schema_privilege('authenticated', 'auth', 'USAGE') THEN
        GRANT USAGE ON SCHEMA auth TO authenticated;  -- auth.uid(), in the policies
    END IF;
    -- every table under the own_rows policy (above: all those with a user_id)
    FOR t IN SELECT tablename FROM pg_policies WHERE schemaname = current_schema() AND policyname = 'own_rows' LOOP
        EXECUTE format('GRANT SELECT, DELETE ON %I TO authenticated', t);
    END LOOP;
END
$$;

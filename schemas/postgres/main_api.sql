-- The main store's operations as PostgreSQL functions, for PostgREST (Supabase):
-- POST /rest/v1/rpc/<function> with a JSON object of the named arguments (p_…).
-- One function per MainStore operation; JSON in, JSON out. Rows travel as JSON
-- objects keyed by column name (the columns of leadminer.adapters.rows), times
-- as ISO 8601 UTC text with whole seconds (as the psycopg adapter returns them).
--
-- SECURITY INVOKER: a user's token runs them as the role authenticated, so the
-- own_rows policies of main.sql apply (that role may only SELECT and DELETE:
-- every write function fails for it); the backend's service_role (BYPASSRLS)
-- reads and writes every user's rows. Applied after main.sql by the same
-- migration (PostgresMainStore.migrate); every statement is idempotent.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', r, current_user);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'leadminer: % cannot be made a member of the role %', current_user, r;
            END;
        END IF;
    END LOOP;
    BEGIN
        ALTER ROLE service_role BYPASSRLS;  -- as on Supabase
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;  -- Supabase: already so
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO anon, authenticated, service_role', current_schema());
    GRANT USAGE ON SCHEMA auth TO service_role;
    FOR r IN SELECT tablename FROM pg_policies WHERE schemaname = current_schema() AND policyname = 'own_rows' LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO service_role', r);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION lm_time(p_moment timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
$$;

-- minings -------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_start_mining(p_mining_id text, p_user_id text, p_source text) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    INSERT INTO minings (id, user_id, source, status) VALUES (p_mining_id, p_user_id, p_source, 'running')
    ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, source = excluded.source,
        status = excluded.status, started_at = now(), finished_at = NULL, stats_json = '{}'
$$;

CREATE OR REPLACE FUNCTION lm_finish_mining(p_mining_id text, p_status text, p_stats jsonb) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    UPDATE minings SET status = p_status, finished_at = now(), stats_json = p_stats
    WHERE id = p_mining_id AND status = 'running'
$$;

CREATE OR REPLACE FUNCTION lm_minings(p_status text DEFAULT NULL, p_user_id text DEFAULT NULL,
                                      p_newest_first boolean DEFAULT false, p_limit integer DEFAULT NULL,
                                      p_mining_id text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', id, 'user_id', user_id, 'source', source, 'status', status,
               'started_at', lm_time(started_at), 'finished_at', lm_time(finished_at), 'stats', stats_json)
           ORDER BY n), '[]')
    FROM (SELECT m.*, row_number() OVER (ORDER BY
                     CASE WHEN p_newest_first THEN started_at END DESC, CASE WHEN p_newest_first THEN id END DESC,
                     started_at, id) AS n
          FROM minings m
          WHERE (p_status IS NULL OR status = p_status) AND (p_user_id IS NULL OR user_id = p_user_id)
            AND (p_mining_id IS NULL OR id = p_mining_id)
          ORDER BY n LIMIT p_limit) AS picked
$$;

-- fetch state ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_folder_states(p_user_id text, p_source text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_object_agg(folder, jsonb_build_array(uidvalidity, highest_uid)), '{}')
    FROM fetch_state WHERE user_id = p_user_id AND source = p_source
$$;

CREATE OR REPLACE FUNCTION lm_save_folder_state(p_user_id text, p_source text, p_folder text,
                                                p_uidvalidity bigint, p_highest_uid bigint) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    INSERT INTO fetch_state (user_id, source, folder, uidvalidity, highest_uid)
    VALUES (p_user_id, p_source, p_folder, p_uidvalidity, p_highest_uid)
    ON CONFLICT (user_id, source, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,
        highest_uid = excluded.highest_uid, updated_at = now()
$$;

-- message index -------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_known_message_ids(p_user_id text, p_message_ids jsonb) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_agg(i.message_id), '[]')
    FROM message_index i JOIN minings m ON m.id = i.mining_id
    WHERE i.user_id = p_user_id AND m.status = 'done'
      AND i.message_id IN (SELECT jsonb_array_elements_text(p_message_ids))
$$;

-- p_messages: message_index rows (rows.INDEX_COLUMNS), p_occurrences: rows.OCCURRENCE_COLUMNS
CREATE OR REPLACE FUNCTION lm_index_messages(p_user_id text, p_mining_id text, p_messages jsonb,
                                             p_occurrences jsonb) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    -- a message indexed by a mining that died is re-claimed whole
    DELETE FROM occurrences WHERE user_id = p_user_id
        AND message_id IN (SELECT m->>'message_id' FROM jsonb_array_elements(p_messages) AS m);
    INSERT INTO message_index (user_id, mining_id, message_id, thread_id, date, from_key, from_user, in_reply_to, tags_json)
    SELECT DISTINCT ON (r.message_id) p_user_id, p_mining_id, r.message_id, r.thread_id, r.date, r.from_key,
           r.from_user, r.in_reply_to, r.tags_json
    FROM jsonb_array_elements(p_messages) WITH ORDINALITY AS e(v, n),
         jsonb_to_record(e.v) AS r(message_id text, thread_id text, date text, from_key text, from_user boolean,
                                   in_reply_to text, tags_json jsonb)
    ORDER BY r.message_id, e.n DESC  -- the last one given wins
    ON CONFLICT (user_id, message_id) DO UPDATE SET mining_id = excluded.mining_id, thread_id = excluded.thread_id,
        date = excluded.date, from_key = excluded.from_key, from_user = excluded.from_user,
        in_reply_to = excluded.in_reply_to, tags_json = excluded.tags_json;
    INSERT INTO occurrences (user_id, message_id, key, email, field, name)
    SELECT DISTINCT ON (r.message_id, r.key, r.field) p_user_id, r.message_id, r.key, r.email, r.field, r.name
    FROM jsonb_array_elements(p_occurrences) WITH ORDINALITY AS e(v, n),
         jsonb_to_record(e.v) AS r(message_id text, key text, email text, field text, name text)
    ORDER BY r.message_id, r.key, r.field, e.n DESC
    ON CONFLICT (user_id, message_id, key, field) DO UPDATE SET email = excluded.email, name = excluded.name;
END
$$;

CREATE OR REPLACE FUNCTION lm_lookup_threads(p_user_id text, p_message_ids jsonb) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('message_id', message_id, 'thread_id', thread_id, 'date', date,
               'from_key', from_key, 'from_user', from_user, 'in_reply_to', in_reply_to, 'tags_json', tags_json)), '[]')
    FROM message_index
    WHERE user_id = p_user_id AND message_id IN (SELECT jsonb_array_elements_text(p_message_ids))
$$;

CREATE OR REPLACE FUNCTION lm_thread_sizes(p_user_id text, p_thread_ids jsonb) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_object_agg(thread_id, n), '{}')
    FROM (SELECT thread_id, count(*) AS n FROM message_index
          WHERE user_id = p_user_id AND thread_id IN (SELECT jsonb_array_elements_text(p_thread_ids))
          GROUP BY thread_id) AS sizes
$$;

DROP FUNCTION IF EXISTS lm_history(text, jsonb);  -- the whole history at once, until main schema 5

-- one page of a person's history (MainStore.history_page): the first p_limit messages after
-- p_after (Message-ID order, code points) in which one of p_keys appears, and their occurrences
-- of p_wanted (main schema 5)
CREATE OR REPLACE FUNCTION lm_history_page(p_user_id text, p_keys jsonb, p_after text, p_limit integer, p_wanted jsonb)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    WITH page AS (
        SELECT DISTINCT message_id COLLATE "C" AS message_id FROM occurrences
        WHERE user_id = p_user_id AND key IN (SELECT jsonb_array_elements_text(p_keys))
          AND message_id COLLATE "C" > coalesce(p_after, '')
        ORDER BY 1 LIMIT p_limit
    )
    SELECT jsonb_build_object(
        'messages', (SELECT coalesce(jsonb_agg(jsonb_build_object('message_id', message_id, 'thread_id', thread_id,
                         'date', date, 'from_key', from_key, 'from_user', from_user, 'in_reply_to', in_reply_to,
                         'tags_json', tags_json) ORDER BY message_id COLLATE "C"), '[]')
                     FROM message_index WHERE user_id = p_user_id AND message_id IN (SELECT message_id FROM page)),
        'occurrences', (SELECT coalesce(jsonb_agg(jsonb_build_object('message_id', message_id, 'key', key,
                            'email', email, 'field', field, 'name', name)
                            ORDER BY message_id COLLATE "C", key COLLATE "C", field COLLATE "C"), '[]')
                        FROM occurrences WHERE user_id = p_user_id AND message_id IN (SELECT message_id FROM page)
                          AND key IN (SELECT jsonb_array_elements_text(p_wanted))))
$$;

-- reference_date's two steps: how many dates, then the one after the outliers
-- (leadminer.scoring.outlier_count decides how many, in Python)
CREATE OR REPLACE FUNCTION lm_dated_count(p_user_id text) RETURNS bigint
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT count(date) FROM message_index WHERE user_id = p_user_id
$$;

CREATE OR REPLACE FUNCTION lm_nth_newest_date(p_user_id text, p_offset integer) RETURNS text
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT date FROM message_index WHERE user_id = p_user_id AND date IS NOT NULL
    ORDER BY date DESC LIMIT 1 OFFSET p_offset
$$;

-- identities and failures -----------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_identities(p_user_id text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_agg(email), '[]') FROM user_identities WHERE user_id = p_user_id
$$;

CREATE OR REPLACE FUNCTION lm_add_identities(p_user_id text, p_emails jsonb) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    INSERT INTO user_identities (user_id, email)
    SELECT DISTINCT p_user_id, e FROM jsonb_array_elements_text(p_emails) AS e
    ON CONFLICT DO NOTHING
$$;

-- p_failures: objects {mining_id, folder, uid, reason}; each row belongs to its mining's user
CREATE OR REPLACE FUNCTION lm_record_failures(p_failures jsonb) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    INSERT INTO failed_messages (user_id, mining_id, folder, uid, reason)
    SELECT DISTINCT ON (u.mining_id, u.folder, u.uid) coalesce(m.user_id, ''), u.mining_id, u.folder, u.uid, u.reason
    FROM jsonb_array_elements(p_failures) WITH ORDINALITY AS e(v, n)
    CROSS JOIN LATERAL jsonb_to_record(e.v) AS u(mining_id text, folder text, uid text, reason text)
    LEFT JOIN minings m ON m.id = u.mining_id
    ORDER BY u.mining_id, u.folder, u.uid, e.n DESC
    ON CONFLICT (mining_id, folder, uid) DO UPDATE SET reason = excluded.reason
$$;

CREATE OR REPLACE FUNCTION lm_failures(p_mining_id text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_array(mining_id, folder, uid, reason)
                              ORDER BY mining_id, folder, uid), '[]')
    FROM failed_messages WHERE p_mining_id IS NULL OR mining_id = p_mining_id
$$;

-- refined persons -------------------------------------------------------------------
-- p_persons: refined_persons rows as objects (rows.PERSON_COLUMNS); the last one of an email wins
CREATE OR REPLACE FUNCTION lm_upsert_persons(p_persons jsonb) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    INSERT INTO refined_persons (user_id, email, name, given_name, family_name, alternate_names_json,
        alternate_emails_json, occurrence, sender, recipient, conversations, replied_conversations, first_seen,
        last_seen, tags_json, status, temperature, direct_messages, direct_first, direct_last, signature_date,
        job_title, organization, telephone_json, fax_json, address, url, same_as_json, updated_at)
    SELECT DISTINCT ON (p.user_id, p.email) p.user_id, p.email, p.name, p.given_name, p.family_name,
        p.alternate_names_json, p.alternate_emails_json, p.occurrence, p.sender, p.recipient, p.conversations,
        p.replied_conversations, p.first_seen, p.last_seen, p.tags_json, p.status, p.temperature, p.direct_messages,
        p.direct_first, p.direct_last, p.signature_date, p.job_title, p.organization, p.telephone_json, p.fax_json,
        p.address, p.url, p.same_as_json, now()
    FROM jsonb_array_elements(p_persons) WITH ORDINALITY AS e(v, n)
    CROSS JOIN LATERAL jsonb_populate_record(NULL::refined_persons, e.v) AS p
    ORDER BY p.user_id, p.email, e.n DESC
    ON CONFLICT (user_id, email) DO UPDATE SET name = excluded.name, given_name = excluded.given_name,
        family_name = excluded.family_name, alternate_names_json = excluded.alternate_names_json,
        alternate_emails_json = excluded.alternate_emails_json, occurrence = excluded.occurrence,
        sender = excluded.sender, recipient = excluded.recipient, conversations = excluded.conversations,
        replied_conversations = excluded.replied_conversations, first_seen = excluded.first_seen,
        last_seen = excluded.last_seen, tags_json = excluded.tags_json, status = excluded.status,
        temperature = excluded.temperature, direct_messages = excluded.direct_messages,
        direct_first = excluded.direct_first, direct_last = excluded.direct_last,
        signature_date = excluded.signature_date, job_title = excluded.job_title,
        organization = excluded.organization, telephone_json = excluded.telephone_json, fax_json = excluded.fax_json,
        address = excluded.address, url = excluded.url, same_as_json = excluded.same_as_json,
        updated_at = excluded.updated_at
$$;

CREATE OR REPLACE FUNCTION lm_update_temperatures(p_user_id text, p_temperatures jsonb) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    UPDATE refined_persons p SET temperature = (u.value)::text::integer
    FROM jsonb_each(p_temperatures) AS u
    WHERE p.user_id = p_user_id AND p.email = u.key
$$;

-- persons of a user in MainStore.persons() order, all or those of p_emails
CREATE OR REPLACE FUNCTION lm_persons(p_user_id text, p_emails jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(p) - 'updated_at' ORDER BY p.temperature DESC, p.occurrence DESC, p.email), '[]')
    FROM refined_persons p
    WHERE p.user_id = p_user_id
      AND (p_emails IS NULL OR p.email IN (SELECT jsonb_array_elements_text(p_emails)))
$$;

-- One keyset page of a user's persons (MainStore.persons_page; the sorts of
-- leadminer.adapters.queries.PERSON_SORTS, spelled again here): p_limit + 1 rows, each
-- the person's columns and 'keys', its sort key values; p_after: the sort key values of
-- the last row before (decoded and checked in Python), p_search: an escaped LIKE pattern.
CREATE OR REPLACE FUNCTION lm_persons_page(p_user_id text, p_sort text, p_limit integer,
                                           p_tags jsonb DEFAULT NULL, p_min_temperature integer DEFAULT NULL,
                                           p_search text DEFAULT NULL, p_after jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER AS $$
DECLARE
    keys text[];
    descending boolean[];
    kinds text[];
    branches text[] := '{}';
    branch text;
    conditions text := 'user_id = $1';
    ordering text;
    result jsonb;
BEGIN
    CASE p_sort
    WHEN 'temperature' THEN
        keys := ARRAY['temperature', 'occurrence', 'email COLLATE "C"'];
        descending := ARRAY[true, true, false]; kinds := ARRAY['int', 'int', 'text'];
    WHEN 'last_seen' THEN
        keys := ARRAY['coalesce(last_seen, '''') COLLATE "C"', 'email COLLATE "C"'];
        descending := ARRAY[true, false]; kinds := ARRAY['text', 'text'];
    WHEN 'name' THEN
        keys := ARRAY['CASE WHEN name IS NULL THEN 1 ELSE 0 END', 'lower(coalesce(name, '''') COLLATE "C")',
                      'email COLLATE "C"'];
        descending := ARRAY[false, false, false]; kinds := ARRAY['int', 'text', 'text'];
    WHEN 'email' THEN
        keys := ARRAY['email COLLATE "C"']; descending := ARRAY[false]; kinds := ARRAY['text'];
    ELSE
        RAISE EXCEPTION 'unknown sort %', p_sort USING ERRCODE = '22023';
    END CASE;
    IF p_tags IS NOT NULL AND jsonb_array_length(p_tags) > 0 THEN
        conditions := conditions || ' AND tags_json @> $2';
    END IF;
    IF p_min_temperature IS NOT NULL THEN
        conditions := conditions || ' AND temperature >= $3';
    END IF;
    IF p_search IS NOT NULL AND p_search <> '' THEN
        conditions := conditions || ' AND (email ILIKE $4 OR name ILIKE $4 OR organization ILIKE $4 OR job_title ILIKE $4)';
    END IF;
    IF p_after IS NOT NULL THEN
        FOR i IN 1 .. array_length(keys, 1) LOOP
            branch := '';
            FOR j IN 1 .. i LOOP
                branch := branch || CASE WHEN j > 1 THEN ' AND ' ELSE '' END || keys[j]
                    || CASE WHEN j < i THEN ' = ' WHEN descending[j] THEN ' < ' ELSE ' > ' END
                    || CASE WHEN kinds[j] = 'int' THEN format('($5->>%s)::integer', j - 1)
                            ELSE format('($5->>%s) COLLATE "C"', j - 1) END;
            END LOOP;
            branches := branches || ('(' || branch || ')');
        END LOOP;
        conditions := conditions || ' AND (' || array_to_string(branches, ' OR ') || ')';
    END IF;
    SELECT string_agg(k || CASE WHEN d THEN ' DESC' ELSE '' END, ', ') INTO ordering
    FROM unnest(keys, descending) AS u(k, d);
    EXECUTE format(
        'SELECT coalesce(jsonb_agg((to_jsonb(page) - ''updated_at'' - ''n'' - ''k'') '
        '|| jsonb_build_object(''keys'', page.k) ORDER BY page.n), ''[]'') '
        'FROM (SELECT p.*, jsonb_build_array(%s) AS k, row_number() OVER (ORDER BY %s) AS n '
        'FROM refined_persons p WHERE %s ORDER BY %s LIMIT $6) AS page',
        array_to_string(keys, ', '), ordering, conditions, ordering)
    INTO result USING p_user_id, p_tags, p_min_temperature, p_search, p_after, p_limit + 1;
    RETURN result;
END
$$;

-- stored mailboxes (leadminer.mailboxes; the password arrives sealed, never in clear) ----
CREATE OR REPLACE FUNCTION lm_save_mailbox(p_user_id text, p_email text, p_host text, p_port integer,
                                           p_security text, p_login text, p_ciphertext text) RETURNS void
LANGUAGE sql SECURITY INVOKER AS $$
    INSERT INTO mining_sources (user_id, email, host, port, security, login, password_ciphertext)
    VALUES (p_user_id, p_email, p_host, p_port, p_security, p_login, p_ciphertext)
    ON CONFLICT (user_id, email) DO UPDATE SET host = excluded.host, port = excluded.port,
        security = excluded.security, login = excluded.login,
        password_ciphertext = excluded.password_ciphertext, updated_at = now()
$$;

-- p_secret adds the sealed password: only the service role may read that column (below), so a
-- user's token gets "permission denied" for it. Two statements, not a CASE: a column named in a
-- statement is checked even in a branch that is not taken.
CREATE OR REPLACE FUNCTION lm_mailboxes(p_user_id text, p_email text DEFAULT NULL,
                                        p_secret boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER AS $$
BEGIN
    IF p_secret THEN
        RETURN (SELECT coalesce(jsonb_agg(jsonb_build_array(email, host, port, security, login, lm_time(created_at),
                       lm_time(updated_at), password_ciphertext) ORDER BY email), '[]')
                FROM mining_sources WHERE user_id = p_user_id AND (p_email IS NULL OR email = p_email));
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_array(email, host, port, security, login, lm_time(created_at),
                   lm_time(updated_at)) ORDER BY email), '[]')
            FROM mining_sources WHERE user_id = p_user_id AND (p_email IS NULL OR email = p_email));
END
$$;

-- The sealed passwords never leave the database towards a user's token: anon and authenticated
-- (which Supabase grants every table of the schema, and PostgREST serves it) read every column of
-- mining_sources but password_ciphertext.
REVOKE SELECT ON mining_sources FROM anon, authenticated;
GRANT SELECT (user_id, email, host, port, security, login, created_at, updated_at) ON mining_sources TO authenticated;

CREATE OR REPLACE FUNCTION lm_delete_mailboxes(p_user_id text, p_email text DEFAULT NULL) RETURNS integer
LANGUAGE sql SECURITY INVOKER AS $$
    WITH gone AS (DELETE FROM mining_sources WHERE user_id = p_user_id AND (p_email IS NULL OR email = p_email)
                  RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

-- a user's data ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION lm_delete_user(p_user_id text) RETURNS jsonb
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    t text;
    n bigint;
    counts jsonb := '{}';
BEGIN
    -- the tables with a user_id, children before parents (reverse order of main.sql)
    FOREACH t IN ARRAY ARRAY['mining_sources', 'refined_persons', 'occurrences', 'message_index',
                             'user_identities', 'failed_messages', 'fetch_state', 'minings'] LOOP
        EXECUTE format('DELETE FROM %I WHERE user_id = $1', t) USING p_user_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        counts := counts || jsonb_build_object(t, n);
    END LOOP;
    RETURN counts;
END
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'lm\_%' LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO authenticated, service_role', f);
    END LOOP;
END
$$;

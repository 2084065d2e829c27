-- 0013_store_message.sql - one message, one statement.
--
-- crm-enrich used to write a message with a dozen statements in three
-- round trips, each parsed and planned again; the server spent more time
-- on that than on the writes.  crm_store_message() does the same writes
-- in the same order, with its statements' plans cached for the session,
-- and crm-enrich sends one call per message, many messages per
-- transaction, in one pipeline.  What is decided from files the daemon
-- loads (Public Suffix List, free-mail list, automated senders) and from
-- the message's bytes stays in C; the arguments carry the verdicts.
--
-- SECURITY INVOKER (the default), like 0005: row-level security applies
-- exactly as it would to the caller's own statements.

-- The contact's row is updated only when something changes: a message
-- that tells nothing new about a known contact (the usual case for a
-- tenant's own people) no longer writes a row version and locks the
-- contact for the rest of a batch.
CREATE OR REPLACE FUNCTION crm_contact_for_address(p_tenant text,
    p_address text, p_domain text, p_display_name text, p_seen timestamptz,
    p_internal boolean, p_account bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	LOOP
		SELECT contact_id INTO v_id FROM contact_addresses
		    WHERE tenant_id = p_tenant AND address = p_address;
		IF FOUND THEN
			UPDATE contacts SET
			    display_name = COALESCE(display_name, p_display_name),
			    account_id = COALESCE(account_id, p_account),
			    first_seen = LEAST(first_seen, p_seen),
			    last_seen = GREATEST(last_seen, p_seen)
			    WHERE tenant_id = p_tenant AND id = v_id AND (
			    (display_name IS NULL AND p_display_name IS NOT NULL) OR
			    (account_id IS NULL AND p_account IS NOT NULL) OR
			    first_seen IS NULL OR first_seen > p_seen OR
			    last_seen IS NULL OR last_seen < p_seen);
			RETURN v_id;
		END IF;
		BEGIN
			INSERT INTO contacts (tenant_id, display_name, account_id,
			    internal, first_seen, last_seen)
			    VALUES (p_tenant, p_display_name, p_account,
			    p_internal, p_seen, p_seen)
			    RETURNING id INTO v_id;
			INSERT INTO contact_addresses (tenant_id, address, domain,
			    contact_id) VALUES (p_tenant, p_address, p_domain, v_id);
			RETURN v_id;
		EXCEPTION WHEN unique_violation THEN
			-- another transaction created it; read it
		END;
	END LOOP;
END $$;

-- Returns the new message's id, or NULL when the tenant already has a
-- message with this idempotency key (then nothing at all is written, so
-- threads, contacts and counters move exactly once per key).
--
-- Thread: a known parent (p_parents: In-Reply-To, then References from
-- the newest), else a child that arrived first, else the subject key
-- p_subject_norm within 30 days (a reply, p_had_prefix, joins any recent
-- thread of that subject; an original only an orphan one), else a new
-- thread, an orphan when the subject had a prefix.  A root message
-- (p_adopt: no In-Reply-To, no References, no prefix) then names its
-- thread and takes in the orphan threads of its subject.
--
-- Participants: parallel arrays, one element per address in message
-- order; p_robot marks machines (no contact), p_internal the tenant's
-- own people, p_account the account's registrable domain (NULL: none).
-- The signature fields go to the contact of participant p_sig_pos
-- (0-based), but only when this is the newest message seen from them.
-- Attachments: parallel arrays too.
CREATE FUNCTION crm_store_message(p_tenant text, p_idkey text,
    p_message_id text, p_in_reply_to text, p_refs text[], p_subject text,
    p_sent_at timestamptz, p_direction text, p_owner text, p_mailbox text,
    p_uid bigint, p_uidvalidity bigint, p_source text,
    p_observed_at timestamptz, p_size bigint, p_body_text text,
    p_topic text, p_partition integer, p_offset bigint, p_key text,
    p_headers jsonb, p_body_quoted text, p_body_signature text,
    p_body_disclaimer text,
    p_parents text[], p_subject_norm text, p_had_prefix boolean,
    p_adopt boolean,
    p_roles text[], p_addresses text[], p_domains text[], p_names text[],
    p_robot boolean[], p_internal boolean[], p_account text[],
    p_sig_pos integer, p_sig_title text, p_sig_phone text,
    p_sig_company text,
    p_att_names text[], p_att_types text[], p_att_sizes bigint[],
    p_att_sha256 text[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
	v_sent timestamptz;
	v_tid bigint;
	v_contact bigint;
	v_orphan bigint;
	v_how text;
BEGIN
	-- The thread is found before the message row is written, so the row
	-- is inserted once with its thread_id: updating it afterwards wrote
	-- every index of messages a second time.
	PERFORM FROM messages
	    WHERE tenant_id = p_tenant AND idempotency_key = p_idkey;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	v_sent := COALESCE(p_sent_at, p_observed_at, now());

	IF cardinality(p_parents) > 0 THEN
		SELECT m.thread_id INTO v_tid
		    FROM unnest(p_parents) WITH ORDINALITY AS r(mid, ord)
		    JOIN messages m ON m.tenant_id = p_tenant AND
		    m.message_id = r.mid
		    WHERE m.thread_id IS NOT NULL
		    ORDER BY r.ord LIMIT 1;
		v_how := 'p';
	END IF;
	-- A child that arrived first (replies overtake originals across
	-- mailboxes and partitions): by In-Reply-To, then by References
	-- (message_refs, 0012).  Two statements, not one with OR: each
	-- keeps its index in a cached plan.
	IF v_tid IS NULL AND p_message_id IS NOT NULL THEN
		SELECT thread_id INTO v_tid FROM messages
		    WHERE tenant_id = p_tenant AND in_reply_to = p_message_id
		    AND thread_id IS NOT NULL LIMIT 1;
		IF v_tid IS NULL THEN
			SELECT m.thread_id INTO v_tid FROM message_refs r
			    JOIN messages m ON m.tenant_id = p_tenant AND
			    m.id = r.message_id
			    WHERE r.tenant_id = p_tenant AND
			    r.ref = p_message_id AND m.thread_id IS NOT NULL
			    LIMIT 1;
		END IF;
		v_how := 'c';
	END IF;
	IF v_tid IS NULL THEN
		WITH f AS (
			SELECT id FROM threads
			    WHERE p_subject_norm <> '' AND
			    tenant_id = p_tenant AND
			    subject_norm = p_subject_norm AND
			    (p_had_prefix OR orphan) AND
			    last_at >= v_sent - interval '30 days'
			    ORDER BY last_at DESC LIMIT 1),
		o AS (
			UPDATE threads SET orphan = false
			    WHERE NOT p_had_prefix AND id IN (SELECT id FROM f)
			    RETURNING id),
		n AS (
			INSERT INTO threads (tenant_id, subject, subject_norm,
			    orphan)
			    SELECT p_tenant, p_subject, p_subject_norm,
			    p_had_prefix
			    WHERE NOT EXISTS (SELECT FROM f)
			    RETURNING id)
		SELECT u.id, u.how INTO v_tid, v_how FROM (
		    SELECT id, 'f' AS how FROM f UNION ALL
		    SELECT id, 'n' FROM n) u LIMIT 1;
	END IF;

	INSERT INTO messages (tenant_id, idempotency_key, message_id,
	    in_reply_to, refs, subject, sent_at, direction, mailbox_owner,
	    mailbox, uid, uidvalidity, source, observed_at, size_bytes,
	    body_text, kafka_topic, kafka_partition, kafka_offset, kafka_key,
	    kafka_headers, body_quoted, body_signature, body_disclaimer,
	    thread_id)
	    VALUES (p_tenant, p_idkey, p_message_id, p_in_reply_to,
	    COALESCE(p_refs, '{}'), p_subject, p_sent_at, p_direction,
	    p_owner, p_mailbox, p_uid, p_uidvalidity, p_source, p_observed_at,
	    p_size, p_body_text, p_topic, p_partition, p_offset, p_key,
	    p_headers, p_body_quoted, p_body_signature, p_body_disclaimer,
	    v_tid)
	    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
	    RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		-- Another transaction stored this key since the check above
		-- (it was in flight, and committed while this INSERT waited
		-- for it): a duplicate after all.  Undo the one side effect
		-- so far, the thread lookup's.
		IF v_how = 'n' THEN
			DELETE FROM threads
			    WHERE tenant_id = p_tenant AND id = v_tid;
		ELSIF v_how = 'f' AND NOT p_had_prefix THEN
			UPDATE threads SET orphan = true
			    WHERE tenant_id = p_tenant AND id = v_tid;
		END IF;
		RETURN NULL;
	END IF;
	INSERT INTO message_refs (tenant_id, ref, message_id)
	    SELECT DISTINCT p_tenant, r, v_id FROM unnest(p_refs) AS r
	    ON CONFLICT DO NOTHING;

	UPDATE threads SET message_count = message_count + 1,
	    first_at = LEAST(first_at, v_sent),
	    last_at = GREATEST(last_at, v_sent)
	    WHERE tenant_id = p_tenant AND id = v_tid;

	-- Statements in a function run with cached, generic plans: each is
	-- written so that its plan does not depend on the values (an orphan
	-- thread by its subject key, then its messages by thread id).
	IF p_adopt AND v_tid IS NOT NULL AND p_subject_norm <> '' THEN
		FOR v_orphan IN SELECT id FROM threads
		    WHERE tenant_id = p_tenant AND
		    subject_norm = p_subject_norm AND orphan AND id <> v_tid AND
		    last_at >= v_sent - interval '30 days' LOOP
			UPDATE messages SET thread_id = v_tid
			    WHERE tenant_id = p_tenant AND thread_id = v_orphan;
		END LOOP;
		IF EXISTS (SELECT FROM threads WHERE tenant_id = p_tenant AND
		    subject_norm = p_subject_norm AND orphan AND
		    id <> v_tid) THEN
			WITH o AS (
				DELETE FROM threads t WHERE tenant_id = p_tenant
				    AND subject_norm = p_subject_norm AND orphan
				    AND id <> v_tid AND NOT EXISTS (
				    SELECT 1 FROM messages m
				    WHERE m.tenant_id = p_tenant AND
				    m.thread_id = t.id)
				    RETURNING message_count, first_at, last_at)
			UPDATE threads SET
			    message_count = message_count +
			    (SELECT COALESCE(sum(message_count), 0) FROM o),
			    first_at = LEAST(first_at,
			    (SELECT min(first_at) FROM o)),
			    last_at = GREATEST(last_at,
			    (SELECT max(last_at) FROM o)),
			    subject = p_subject, subject_norm = p_subject_norm,
			    orphan = false
			    WHERE tenant_id = p_tenant AND id = v_tid;
		ELSE
			UPDATE threads SET subject = p_subject,
			    subject_norm = p_subject_norm, orphan = false
			    WHERE tenant_id = p_tenant AND id = v_tid AND
			    (subject IS DISTINCT FROM p_subject OR
			    subject_norm IS DISTINCT FROM p_subject_norm OR
			    orphan);
		END IF;
	END IF;

	FOR i IN 1 .. COALESCE(cardinality(p_addresses), 0) LOOP
		IF p_robot[i] THEN
			v_contact := NULL;
		ELSE
			v_contact := crm_contact_for_address(p_tenant,
			    p_addresses[i], p_domains[i], p_names[i], v_sent,
			    p_internal[i], CASE WHEN p_account[i] IS NULL THEN
			    NULL ELSE crm_account_for_domain(p_tenant,
			    p_account[i]) END);
		END IF;
		INSERT INTO participants (tenant_id, message_id, role, address,
		    display_name, contact_id, position)
		    VALUES (p_tenant, v_id, p_roles[i], p_addresses[i],
		    p_names[i], v_contact, i - 1)
		    ON CONFLICT DO NOTHING;
		IF p_sig_pos = i - 1 AND v_contact IS NOT NULL THEN
			UPDATE contacts c SET
			    title = COALESCE(p_sig_title, c.title),
			    phone = COALESCE(p_sig_phone, c.phone),
			    company = COALESCE(p_sig_company, c.company)
			    FROM contact_addresses ca
			    WHERE ca.tenant_id = p_tenant AND
			    ca.address = p_addresses[i] AND
			    c.tenant_id = p_tenant AND c.id = ca.contact_id AND
			    c.last_seen <= v_sent;
		END IF;
	END LOOP;

	INSERT INTO attachments (tenant_id, message_id, position, filename,
	    content_type, size_bytes, sha256)
	    SELECT p_tenant, v_id, a.ord - 1, a.name, a.type, a.size, a.sha256
	    FROM unnest(p_att_names, p_att_types, p_att_sizes, p_att_sha256)
	    WITH ORDINALITY AS a(name, type, size, sha256, ord);
	RETURN v_id;
END $$;

GRANT EXECUTE ON FUNCTION crm_store_message(text, text, text, text, text[],
    text, timestamptz, text, text, text, bigint, bigint, text, timestamptz,
    bigint, text, text, integer, bigint, text, jsonb, text, text, text,
    text[], text, boolean, boolean, text[], text[], text[], text[],
    boolean[], boolean[], text[], integer, text, text, text, text[],
    text[], bigint[], text[]) TO crm_enrich;

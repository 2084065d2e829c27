-- 0002_messages.sql - messages, threads, participants, attachments.
--
-- One messages row per (tenant, idempotency key): the same message fetched
-- by two clients, or sent by one rep and received by another, is one row
-- (docs/events.md).  The row remembers the first Kafka record that
-- produced it (topic/partition/offset/key and the record's headers).

CREATE TABLE threads (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
	subject       text,
	subject_norm  text,
	first_at      timestamptz,
	last_at       timestamptz,
	message_count integer NOT NULL DEFAULT 0,
	-- Started by a "Re:" whose parent was not known yet: the parent
	-- (same normalised subject, no prefix) joins it when it arrives.
	orphan        boolean NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id)
);
CREATE INDEX threads_last_at ON threads (tenant_id, last_at DESC);
CREATE INDEX threads_subject ON threads (tenant_id, subject_norm, last_at DESC);

CREATE TABLE messages (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
	idempotency_key text NOT NULL,
	message_id      text,
	in_reply_to     text,
	refs            text[] NOT NULL DEFAULT '{}',
	subject         text,
	sent_at         timestamptz,
	direction       text NOT NULL
	    CHECK (direction IN ('in', 'out', 'draft', 'other')),
	mailbox_owner   text NOT NULL,
	mailbox         text,
	uid             bigint,
	uidvalidity     bigint,
	source          text,
	observed_at     timestamptz,
	thread_id       bigint,
	size_bytes      bigint NOT NULL,
	body_text       text,
	body_quoted     text,
	body_signature  text,
	body_disclaimer text,
	kafka_topic     text NOT NULL,
	kafka_partition integer NOT NULL,
	kafka_offset    bigint NOT NULL,
	kafka_key       text NOT NULL,
	kafka_headers   jsonb NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, idempotency_key),
	UNIQUE (tenant_id, id),
	FOREIGN KEY (tenant_id, thread_id) REFERENCES threads (tenant_id, id)
	    ON DELETE SET NULL (thread_id)
);
CREATE INDEX messages_message_id ON messages (tenant_id, message_id);
CREATE INDEX messages_thread ON messages (tenant_id, thread_id, sent_at);
CREATE INDEX messages_sent_at ON messages (tenant_id, sent_at DESC);
CREATE INDEX messages_owner ON messages (tenant_id, mailbox_owner, sent_at DESC);
-- A reply that arrives before its parent finds the parent's later
-- children through these.
CREATE INDEX messages_in_reply_to ON messages (tenant_id, in_reply_to);
CREATE INDEX messages_refs ON messages USING gin (refs);

CREATE TABLE participants (
	tenant_id    text NOT NULL,
	message_id   bigint NOT NULL,
	role         text NOT NULL CHECK (role IN ('from', 'to', 'cc', 'bcc')),
	address      text NOT NULL CHECK (address = lower(address)),
	display_name text,
	contact_id   bigint,
	position     integer NOT NULL,
	PRIMARY KEY (message_id, role, address),
	FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
	    ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
	    ON DELETE SET NULL (contact_id)
);
CREATE INDEX participants_address ON participants (tenant_id, address);
CREATE INDEX participants_contact ON participants (tenant_id, contact_id);

-- Metadata only: the bytes stay in Kafka (and the provider).
CREATE TABLE attachments (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id    text NOT NULL,
	message_id   bigint NOT NULL,
	position     integer NOT NULL,
	filename     text,
	content_type text NOT NULL,
	size_bytes   bigint NOT NULL,
	sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	UNIQUE (message_id, position),
	FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
	    ON DELETE CASCADE
);
CREATE INDEX attachments_sha256 ON attachments (tenant_id, sha256);

SELECT crm_enable_rls('threads');
SELECT crm_enable_rls('messages');
SELECT crm_enable_rls('participants');
SELECT crm_enable_rls('attachments');

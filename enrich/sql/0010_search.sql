-- 0010_search.sql - message chunks for hybrid search (docs/search.md).
--
-- One row per chunk of a message's text, the same chunks the vector store
-- holds (point id derived from message_key + chunk_no).  Full-text search
-- runs over tsv; dense search over the vector store; crm-search fuses both.
--
-- Forward-only; applied once, in numeric order with the other files here.

-- Roles: created only if absent (the main schema may create them first).
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_owner') THEN
		CREATE ROLE crm_owner NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_enrich') THEN
		CREATE ROLE crm_enrich NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm_api') THEN
		CREATE ROLE crm_api NOLOGIN;
	END IF;
END
$$;

CREATE TABLE message_chunks (
	tenant_id	text NOT NULL,
	-- the event's idempotency key (docs/events.md)
	message_key	text NOT NULL,
	chunk_no	integer NOT NULL CHECK (chunk_no >= 0),
	account_id	bigint NULL,
	contact_address	text NULL,
	direction	text NOT NULL CHECK (direction IN ('in', 'out', 'draft')),
	sent_at		timestamptz NOT NULL,
	subject		text NOT NULL DEFAULT '',
	body		text NOT NULL,
	-- 'english' (stemming + stop words) measured better than 'simple' on
	-- the labelled set: docs/search.md.  Subject words weigh more (A).
	tsv		tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('english', subject), 'A') ||
		setweight(to_tsvector('english', body), 'B')) STORED,
	PRIMARY KEY (tenant_id, message_key, chunk_no)
);

CREATE INDEX message_chunks_tsv ON message_chunks USING gin (tsv);
CREATE INDEX message_chunks_account_time
	ON message_chunks (tenant_id, account_id, sent_at);
CREATE INDEX message_chunks_time ON message_chunks (tenant_id, sent_at);

ALTER TABLE message_chunks OWNER TO crm_owner;
ALTER TABLE message_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE message_chunks FORCE ROW LEVEL SECURITY;

-- With crm.tenant_id unset, current_setting(..., true) is NULL and the
-- policy matches nothing: forgetting the tenant shows no rows, never all.
CREATE POLICY message_chunks_tenant ON message_chunks
	USING (tenant_id = current_setting('crm.tenant_id', true))
	WITH CHECK (tenant_id = current_setting('crm.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON message_chunks TO crm_enrich;
GRANT SELECT ON message_chunks TO crm_api;

-- 0011_index_queue.sql - the search index follows the messages table.
--
-- Every message row that is inserted or deleted leaves a row here, written
-- by a trigger in the same transaction as the message itself, so the
-- queue and the messages can never disagree: a message committed is a
-- message queued, whoever wrote it (crm-enrich, crm-admin purge, a
-- restore).  The trigger also calls pg_notify('crm_index', tenant) so
-- crm-index wakes at COMMIT instead of polling (docs/search.md,
-- "Indexing").  crm-index removes a row only after the chunks and vectors
-- of its message are written (or removed): a crash in between indexes the
-- message again, which is idempotent.
--
-- No foreign key to messages: a delete must outlive its message so that
-- its chunks and vectors can be removed afterwards.

CREATE TABLE index_queue (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id   text NOT NULL,
	message_id  bigint NOT NULL,	-- messages.id
	message_key text NOT NULL,	-- messages.idempotency_key
	op          text NOT NULL CHECK (op IN ('index', 'delete')),
	enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	-- failed attempts; crm-index leaves a row alone after
	-- [index] max_attempts, with the last error kept here
	attempts    integer NOT NULL DEFAULT 0,
	last_error  text
);
CREATE INDEX index_queue_next ON index_queue (tenant_id, id);

SELECT crm_enable_rls('index_queue');

-- Runs as the role that wrote the message (no SECURITY DEFINER): the
-- queue row passes the same tenant policy the message did.
CREATE FUNCTION crm_index_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO index_queue (tenant_id, message_id, message_key, op)
		    VALUES (OLD.tenant_id, OLD.id, OLD.idempotency_key, 'delete');
		PERFORM pg_notify('crm_index', OLD.tenant_id);
	ELSE
		INSERT INTO index_queue (tenant_id, message_id, message_key, op)
		    VALUES (NEW.tenant_id, NEW.id, NEW.idempotency_key, 'index');
		PERFORM pg_notify('crm_index', NEW.tenant_id);
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER messages_index_queue
	AFTER INSERT OR DELETE ON messages
	FOR EACH ROW EXECUTE FUNCTION crm_index_enqueue();

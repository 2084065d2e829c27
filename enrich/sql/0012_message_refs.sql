-- 0012_message_refs.sql - the References of each message, one row per
-- id, for "which stored message names this one as its parent?".
--
-- crm-enrich asks that for nearly every new message (a reply can arrive
-- before its original).  messages.refs has a GIN index, but `@>` is not
-- a leakproof operator, so under row-level security the planner may not
-- use the index below the tenant policy: every lookup read all of the
-- tenant's messages.  Equality on text is leakproof: this table's
-- (tenant_id, ref) index serves the lookup at any size.
--
-- Existing messages are copied in.  The owner is subject to its own
-- policies (FORCE), which would hide every row here, so the copy runs
-- with FORCE lifted on messages for this transaction only, and the new
-- table gets its policy after it is filled.

CREATE TABLE message_refs (
	tenant_id  text NOT NULL,
	ref        text NOT NULL,
	message_id bigint NOT NULL,
	PRIMARY KEY (tenant_id, ref, message_id),
	FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
	    ON DELETE CASCADE
);
CREATE INDEX message_refs_message ON message_refs (tenant_id, message_id);

ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
INSERT INTO message_refs (tenant_id, ref, message_id)
    SELECT DISTINCT m.tenant_id, r.ref, m.id
    FROM messages m, unnest(m.refs) AS r(ref);
ALTER TABLE messages FORCE ROW LEVEL SECURITY;

SELECT crm_enable_rls('message_refs');

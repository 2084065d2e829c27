-- 0004_purge_audit.sql - one row per crm-admin purge.  The target is kept
-- only as a SHA-256 of its lower-cased text, so the audit trail does not
-- itself retain the personal data it records the removal of.

CREATE TABLE purge_audit (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id     text NOT NULL,
	purged_at     timestamptz NOT NULL DEFAULT now(),
	actor         text NOT NULL,
	target_kind   text NOT NULL CHECK (target_kind IN ('address', 'domain')),
	target_sha256 text NOT NULL,
	counts        jsonb NOT NULL,
	message_ids   bigint[] NOT NULL DEFAULT '{}',
	vector_purged boolean NOT NULL DEFAULT false
);
CREATE INDEX purge_audit_at ON purge_audit (tenant_id, purged_at DESC);

SELECT crm_enable_rls('purge_audit');

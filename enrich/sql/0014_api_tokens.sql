-- 0014_api_tokens.sql - the bearer tokens crm-api accepts (docs/api.md).
--
-- A token is shown once, by `crm-admin token create`; only its SHA-256 is
-- kept, so a copy of the database holds no usable token.  A token belongs
-- to one tenant: every request made with it sees that tenant's rows and no
-- others (row-level security, crm.tenant_id set per transaction).
--
-- crm-api does not know the tenant before it knows the token, so it
-- cannot read this table through the tenant policy.  It asks
-- api_token_tenant() instead, which runs as the owner and answers only
-- for the one hash it is given.  For that the owner may read every row
-- (a second policy, SELECT only, for crm_owner, which no daemon logs in
-- as); RLS stays forced, every other role, crm-admin's included, stays
-- inside its tenant, and crm_api may not read the table at all.

CREATE TABLE api_tokens (
	tenant_id  text NOT NULL CHECK (tenant_id <> ''),
	name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
	token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz,
	PRIMARY KEY (tenant_id, name)
);
SELECT crm_enable_rls('api_tokens');
CREATE POLICY token_lookup ON api_tokens FOR SELECT TO crm_owner
    USING (true);
REVOKE ALL ON api_tokens FROM crm_api;

CREATE FUNCTION api_token_tenant(h bytea, OUT tenant_id text, OUT name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
	SELECT t.tenant_id, t.name FROM api_tokens t
	WHERE t.token_hash = h AND t.revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION api_token_tenant(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_token_tenant(bytea) TO crm_api;

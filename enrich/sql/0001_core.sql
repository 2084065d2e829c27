-- 0001_core.sql - tenants, their internal domains, accounts and contacts,
-- plus the row-level-security helper every later migration uses.
--
-- Applied by crm-migrate as crm_owner.  Every table carries tenant_id and
-- is protected by crm_enable_rls(): ENABLE + FORCE row level security (so
-- even the owner is filtered) and one policy comparing tenant_id with the
-- transaction-local setting crm.tenant_id.  With the setting absent,
-- current_setting(..., true) is NULL and the policy matches no row.

CREATE FUNCTION crm_enable_rls(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
	EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
	EXECUTE format('CREATE POLICY tenant_isolation ON %s '
	    'USING (tenant_id = current_setting(''crm.tenant_id'', true)) '
	    'WITH CHECK (tenant_id = current_setting(''crm.tenant_id'', true))',
	    t);
END $$;
REVOKE ALL ON FUNCTION crm_enable_rls(regclass) FROM PUBLIC;

-- Tables created by crm_owner from now on are usable by the daemons
-- without a GRANT in every migration; RLS still applies to them.
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO crm_enrich;
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO crm_api;
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO crm_enrich;
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO crm_api;

CREATE TABLE tenants (
	tenant_id  text PRIMARY KEY CHECK (tenant_id <> '' AND
	                                   strpos(tenant_id, '/') = 0),
	name       text,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Internal domains: a party whose address is in one of these is a
-- colleague, not a customer.  crm-enrich adds every mailbox owner's domain.
CREATE TABLE tenant_domains (
	tenant_id  text NOT NULL REFERENCES tenants ON DELETE CASCADE,
	domain     text NOT NULL CHECK (domain = lower(domain)),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, domain)
);

CREATE TABLE accounts (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id  text NOT NULL REFERENCES tenants ON DELETE CASCADE,
	name       text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id)
);
CREATE INDEX accounts_name ON accounts (tenant_id, lower(name));

-- An account may own several domains (acme.com, acme.co.uk, acme-corp.io);
-- a domain belongs to at most one account of a tenant.
CREATE TABLE account_domains (
	tenant_id  text NOT NULL,
	domain     text NOT NULL CHECK (domain = lower(domain)),
	account_id bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, domain),
	FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id)
	    ON DELETE CASCADE
);
CREATE INDEX account_domains_account ON account_domains (tenant_id, account_id);

CREATE TABLE contacts (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
	display_name text,
	account_id   bigint,
	internal     boolean NOT NULL DEFAULT false,
	first_seen   timestamptz,
	last_seen    timestamptz,
	created_at   timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, id),
	FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id)
	    ON DELETE SET NULL (account_id)
);
CREATE INDEX contacts_account ON contacts (tenant_id, account_id);
CREATE INDEX contacts_last_seen ON contacts (tenant_id, last_seen DESC);

-- Addresses are stored lower-cased; one contact may have several.
CREATE TABLE contact_addresses (
	tenant_id  text NOT NULL,
	address    text NOT NULL CHECK (address = lower(address)),
	domain     text NOT NULL,
	contact_id bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, address),
	FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
	    ON DELETE CASCADE
);
CREATE INDEX contact_addresses_contact ON contact_addresses (tenant_id, contact_id);
CREATE INDEX contact_addresses_domain ON contact_addresses (tenant_id, domain);

SELECT crm_enable_rls('tenants');
SELECT crm_enable_rls('tenant_domains');
SELECT crm_enable_rls('accounts');
SELECT crm_enable_rls('account_domains');
SELECT crm_enable_rls('contacts');
SELECT crm_enable_rls('contact_addresses');

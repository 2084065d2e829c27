-- 0005_upsert_functions.sql - race-free "find or create" for accounts and
-- contacts.  Two crm-enrich instances may meet the same new address at the
-- same moment (alice's copy and bob's copy of one message sit on different
-- partitions).  Each function inserts inside a sub-transaction and, when
-- the unique key says someone else won, rolls back only that and reads
-- the winner's row.  SECURITY INVOKER (the default): row-level security
-- applies to the caller exactly as for its own statements.

CREATE FUNCTION crm_account_for_domain(p_tenant text, p_domain text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	LOOP
		SELECT account_id INTO v_id FROM account_domains
		    WHERE tenant_id = p_tenant AND domain = p_domain;
		IF FOUND THEN
			RETURN v_id;
		END IF;
		BEGIN
			INSERT INTO accounts (tenant_id, name)
			    VALUES (p_tenant, p_domain) RETURNING id INTO v_id;
			INSERT INTO account_domains (tenant_id, domain, account_id)
			    VALUES (p_tenant, p_domain, v_id);
			RETURN v_id;
		EXCEPTION WHEN unique_violation THEN
			-- another transaction created it; read it
		END;
	END LOOP;
END $$;

CREATE FUNCTION crm_contact_for_address(p_tenant text, p_address text,
    p_domain text, p_display_name text, p_seen timestamptz,
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
			    WHERE tenant_id = p_tenant AND id = v_id;
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

GRANT EXECUTE ON FUNCTION crm_account_for_domain(text, text) TO crm_enrich;
GRANT EXECUTE ON FUNCTION crm_contact_for_address(text, text, text, text,
    timestamptz, boolean, bigint) TO crm_enrich;

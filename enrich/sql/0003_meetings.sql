-- 0003_meetings.sql - calendar events: one meeting per (tenant, UID).

CREATE TABLE meetings (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
	uid             text NOT NULL,
	sequence        integer NOT NULL DEFAULT 0,
	summary         text,
	location        text,
	status          text,
	starts_at       timestamptz,
	ends_at         timestamptz,
	organizer       text CHECK (organizer = lower(organizer)),
	mailbox_owner   text NOT NULL,
	kafka_topic     text NOT NULL,
	kafka_partition integer NOT NULL,
	kafka_offset    bigint NOT NULL,
	kafka_key       text NOT NULL,
	kafka_headers   jsonb NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, uid),
	UNIQUE (tenant_id, id)
);
CREATE INDEX meetings_starts_at ON meetings (tenant_id, starts_at DESC);

CREATE TABLE attendees (
	tenant_id    text NOT NULL,
	meeting_id   bigint NOT NULL,
	address      text NOT NULL CHECK (address = lower(address)),
	display_name text,
	partstat     text NOT NULL DEFAULT 'NEEDS-ACTION',
	role         text,
	contact_id   bigint,
	PRIMARY KEY (meeting_id, address),
	FOREIGN KEY (tenant_id, meeting_id) REFERENCES meetings (tenant_id, id)
	    ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
	    ON DELETE SET NULL (contact_id)
);
CREATE INDEX attendees_address ON attendees (tenant_id, address);
CREATE INDEX attendees_contact ON attendees (tenant_id, contact_id);

SELECT crm_enable_rls('meetings');
SELECT crm_enable_rls('attendees');

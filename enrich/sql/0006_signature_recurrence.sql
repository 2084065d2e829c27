-- 0006_signature_recurrence.sql - what a sender's signature says about
-- them (job title, phone in E.164 form, company as written), and the
-- recurrence rule of a meeting (RRULE text; starts_at/ends_at are the
-- first occurrence, in UTC).  Forward only: new nullable columns.

ALTER TABLE contacts
	ADD COLUMN title   text,
	ADD COLUMN phone   text CHECK (phone ~ '^\+[0-9]{8,15}$'),
	ADD COLUMN company text;

ALTER TABLE meetings
	ADD COLUMN rrule text;

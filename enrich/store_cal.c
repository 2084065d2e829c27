/*
 * store_cal.c - calendar objects: one meeting per (tenant, UID), its
 * attendees and the organizer's contact.  Runs inside the transaction
 * store.c opened for the record's tenant (see enrich.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrich/cal/cal.h"
#include "enrich/ident/ident.h"
#include "enrich/store_int.h"
#include "enrich/textutil.h"
#include "lib/xmalloc.h"

/* Contact (and account) for one address in one statement: $1 tenant, $2
 * address, $3 domain, $4 name, $5 seen, $6 internal, $7 account domain.
 * A seen time that is not known (NULL) leaves first_seen and last_seen
 * as they are (LEAST and GREATEST skip NULLs): never now(), or every
 * replay of the record would move them. */
#define CONTACT_SQL "crm_contact_for_address($1, $2, $3, $4, " \
	"$5::timestamptz, $6, CASE WHEN $7::text IS NULL " \
	"THEN NULL ELSE crm_account_for_domain($1, $7) END)"

/*
 * A meeting from a PUT or an invitation ($1 tenant, $2 uid, $3 sequence,
 * $4 summary, $5 location, $6 status, $7 start, $8 end, $9 organizer,
 * $10 owner, $11-$15 the Kafka record, $16 rrule).  It moves forward,
 * never back, in SEQUENCE; a CANCEL without times keeps the known ones.
 * A known meeting is updated only when a value changes and a new one is
 * inserted only when the UID is unknown, so a replayed record writes no
 * row version and draws no id.  Rows: (id, same SEQUENCE) when the
 * record applies, (NULL, NULL) when it is older than what is stored,
 * none when the UID appeared meanwhile (then MEETING_UPSERT).
 */
#define MEETING_NEW "$3::integer, COALESCE($4::text, m.summary), " \
	"COALESCE($5::text, m.location), $6::text, COALESCE($7::timestamptz, " \
	"m.starts_at), COALESCE($8::timestamptz, m.ends_at), " \
	"COALESCE($9::text, m.organizer), CASE WHEN $7::timestamptz IS NULL " \
	"THEN m.rrule ELSE $16::text END"
static const char MEETING_WRITE[] =
    "WITH old AS (SELECT id, sequence FROM meetings WHERE tenant_id = $1 "
    "AND uid = $2), upd AS (UPDATE meetings m SET (sequence, summary, "
    "location, status, starts_at, ends_at, organizer, rrule) = "
    "(" MEETING_NEW "), updated_at = now() FROM old WHERE m.tenant_id = $1 "
    "AND m.id = old.id AND old.sequence <= $3::integer AND (m.sequence, "
    "m.summary, m.location, m.status, m.starts_at, m.ends_at, m.organizer, "
    "m.rrule) IS DISTINCT FROM (" MEETING_NEW ") RETURNING m.id), "
    "ins AS (INSERT INTO meetings (tenant_id, uid, sequence, summary, "
    "location, status, starts_at, ends_at, organizer, mailbox_owner, "
    "kafka_topic, kafka_partition, kafka_offset, kafka_key, kafka_headers, "
    "rrule) SELECT $1, $2, $3::integer, $4::text, $5::text, $6::text, "
    "$7::timestamptz, $8::timestamptz, $9::text, $10, $11, $12, $13, $14, "
    "$15, $16::text WHERE NOT EXISTS (SELECT FROM old) ON CONFLICT "
    "(tenant_id, uid) DO NOTHING RETURNING id) "
    "SELECT id, sequence = $3::integer FROM old WHERE sequence <= "
    "$3::integer UNION ALL SELECT NULL, NULL FROM old WHERE sequence > "
    "$3::integer UNION ALL SELECT id, false FROM ins";
/* The same as one upsert, for the race above (draws an id each time). */
static const char MEETING_UPSERT[] =
    "WITH old AS (SELECT sequence FROM meetings WHERE "
    "tenant_id = $1 AND uid = $2) "
    "INSERT INTO meetings (tenant_id, uid, sequence, "
    "summary, location, status, starts_at, ends_at, "
    "organizer, mailbox_owner, kafka_topic, "
    "kafka_partition, kafka_offset, kafka_key, "
    "kafka_headers, rrule) VALUES ($1, $2, $3, $4, $5, "
    "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
    "ON CONFLICT (tenant_id, uid) DO UPDATE SET "
    "sequence = EXCLUDED.sequence, summary = COALESCE("
    "EXCLUDED.summary, meetings.summary), location = "
    "COALESCE(EXCLUDED.location, meetings.location), "
    "status = EXCLUDED.status, starts_at = COALESCE("
    "EXCLUDED.starts_at, meetings.starts_at), ends_at = "
    "COALESCE(EXCLUDED.ends_at, meetings.ends_at), "
    "organizer = COALESCE(EXCLUDED.organizer, "
    "meetings.organizer), rrule = CASE WHEN "
    "EXCLUDED.starts_at IS NULL THEN meetings.rrule "
    "ELSE EXCLUDED.rrule END, updated_at = CASE WHEN ("
    "meetings.sequence, meetings.summary, "
    "meetings.location, meetings.status, "
    "meetings.starts_at, meetings.ends_at, "
    "meetings.organizer, meetings.rrule) IS NOT "
    "DISTINCT FROM (EXCLUDED.sequence, COALESCE("
    "EXCLUDED.summary, meetings.summary), COALESCE("
    "EXCLUDED.location, meetings.location), "
    "EXCLUDED.status, COALESCE(EXCLUDED.starts_at, "
    "meetings.starts_at), COALESCE(EXCLUDED.ends_at, "
    "meetings.ends_at), COALESCE(EXCLUDED.organizer, "
    "meetings.organizer), CASE WHEN EXCLUDED.starts_at "
    "IS NULL THEN meetings.rrule ELSE EXCLUDED.rrule "
    "END) THEN meetings.updated_at ELSE now() END WHERE "
    "meetings.sequence <= EXCLUDED.sequence RETURNING "
    "id, COALESCE((SELECT sequence FROM old) = "
    "$3::integer, false)";

/* Returns the contact id (copied), or NULL after a failure (s->failed). */
static char *
resolve_contact(struct enrich_store *s, const char *tenant,
    const struct tenant_domains *td, const char *address, const char *domain,
    const char *name, const char *seen)
{
	char buf[256];
	enum resolve_kind k = store_party(s, td, address, buf, sizeof(buf));
	const char *p[7] = { tenant, address, domain, name, seen,
	    k == RESOLVE_INTERNAL ? "t" : "f",
	    k == RESOLVE_COMPANY ? buf : NULL };

	/* Machines never become contacts. */
	if (k == RESOLVE_NOREPLY || k == RESOLVE_INVALID)
		return NULL;
	return store_db_value(s, "SELECT " CONTACT_SQL, 7, p);
}

/* A calendar address as an attendees/organizer key, or NULL. */
static char *
cal_addr(const char *addr)
{
	struct ident_addr a;
	const char *err;

	if (addr == NULL || ident_addr_parse(addr, strlen(addr), 0, &a,
	    &err) != 0)
		return NULL;
	return xstrdup(a.addr);
}

/* "YYYY-MM-DD HH:MM:SS+0000", or NULL. */
static char *
cal_time_str(const struct cal_time *t, bool has)
{
	time_t tt;
	struct tm tm;
	char buf[40];

	if (!has)
		return NULL;
	tt = (time_t)t->utc;
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 1 ||
	    tm.tm_year + 1900 > 9999)
		return NULL;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d+0000",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	return xstrdup(buf);
}

static const char *
cal_status_str(const struct cal_event *e)
{
	if (e->cancelled)
		return "CANCELLED";
	switch (e->status) {
	case CAL_STATUS_TENTATIVE:
		return "TENTATIVE";
	case CAL_STATUS_CONFIRMED:
		return "CONFIRMED";
	default:
		return NULL;
	}
}

static const char *
cal_role_str(enum cal_role r)
{
	static const char *const names[] = {
		NULL, "CHAIR", "REQ-PARTICIPANT", "OPT-PARTICIPANT",
		"NON-PARTICIPANT", NULL,
	};

	return (size_t)r < sizeof(names) / sizeof(*names) ? names[r] : NULL;
}

static const char *
cal_partstat_str(enum cal_partstat p)
{
	return p == CAL_PARTSTAT_NONE || p == CAL_PARTSTAT_OTHER ?
	    "NEEDS-ACTION" : cal_partstat_name(p);
}

static void
store_attendees(struct enrich_store *s, const char *tenant,
    const struct tenant_domains *td, const char *mid,
    const struct cal_event *e, const char *seen, bool keep_partstat,
    bool reply)
{
	char **addrs = xcalloc(e->n_attendees + 1, sizeof(*addrs));
	size_t n = 0;

	for (size_t j = 0; j < e->n_attendees && !s->failed; j++) {
		const struct cal_person *a = &e->attendees[j];
		char *addr = cal_addr(a->addr), *cid;
		const char *dom;

		if (addr == NULL)
			continue;
		addrs[n++] = addr;
		dom = strrchr(addr, '@') + 1;
		cid = resolve_contact(s, tenant, td, addr, dom, a->cn, seen);
		const char *p[7] = { tenant, mid, addr, a->cn,
		    cal_partstat_str(a->partstat), cal_role_str(a->role), cid };

		/* A re-sent invitation (same SEQUENCE) says NEEDS-ACTION
		 * for everyone; it must not undo the replies seen since. */
		if (reply)
			store_db_cmd(s, "INSERT INTO attendees (tenant_id, "
			    "meeting_id, address, display_name, partstat, role, "
			    "contact_id) VALUES ($1, $2, $3, $4, $5, $6, $7) "
			    "ON CONFLICT (meeting_id, address) DO UPDATE SET "
			    "partstat = EXCLUDED.partstat WHERE "
			    "attendees.partstat IS DISTINCT FROM "
			    "EXCLUDED.partstat", 7, p);
		else
			store_db_cmd(s, keep_partstat ?
			    "INSERT INTO attendees (tenant_id, meeting_id, "
			    "address, display_name, partstat, role, contact_id) "
			    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT "
			    "(meeting_id, address) DO UPDATE SET display_name = "
			    "EXCLUDED.display_name, role = EXCLUDED.role, "
			    "contact_id = EXCLUDED.contact_id, partstat = CASE "
			    "WHEN EXCLUDED.partstat = 'NEEDS-ACTION' THEN "
			    "attendees.partstat ELSE EXCLUDED.partstat END "
			    "WHERE (attendees.display_name, attendees.role, "
			    "attendees.contact_id) IS DISTINCT FROM "
			    "(EXCLUDED.display_name, EXCLUDED.role, "
			    "EXCLUDED.contact_id) OR (EXCLUDED.partstat <> "
			    "'NEEDS-ACTION' AND attendees.partstat IS DISTINCT "
			    "FROM EXCLUDED.partstat)" :
			    "INSERT INTO attendees (tenant_id, meeting_id, "
			    "address, display_name, partstat, role, contact_id) "
			    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT "
			    "(meeting_id, address) DO UPDATE SET display_name = "
			    "EXCLUDED.display_name, role = EXCLUDED.role, "
			    "contact_id = EXCLUDED.contact_id, partstat = "
			    "EXCLUDED.partstat WHERE (attendees.display_name, "
			    "attendees.role, attendees.contact_id, "
			    "attendees.partstat) IS DISTINCT FROM "
			    "(EXCLUDED.display_name, EXCLUDED.role, "
			    "EXCLUDED.contact_id, EXCLUDED.partstat)", 7, p);
		free(cid);
	}
	if (!reply && !s->failed) {
		/* Attendees dropped from a new version of the meeting. */
		char *arr = store_text_array(addrs, n);
		const char *p[3] = { tenant, mid, arr };

		store_db_cmd(s, "DELETE FROM attendees WHERE tenant_id = $1 AND "
		    "meeting_id = $2 AND NOT (address = ANY($3::text[]))", 3, p);
		free(arr);
	}
	for (size_t j = 0; j < n; j++)
		free(addrs[j]);
	free(addrs);
}

/* One meeting per UID: the master VEVENT (no RECURRENCE-ID) when the
 * object has one, else the first VEVENT of that UID.  Overridden
 * instances do not make meetings of their own. */
static bool
cal_event_is_meeting(const struct cal_object *obj, size_t i)
{
	const struct cal_event *e = &obj->events[i];

	for (size_t j = 0; j < obj->n_events; j++) {
		const struct cal_event *o = &obj->events[j];

		if (j == i || strcmp(o->uid, e->uid) != 0)
			continue;
		if (e->has_recurrence_id && !o->has_recurrence_id)
			return false;	/* the master speaks */
		if (j < i && e->has_recurrence_id == o->has_recurrence_id)
			return false;	/* a duplicate: the first wins */
	}
	return true;
}

struct cal_object *
store_cal_parse(const struct enrich_event *ev, enum enrich_result *res_r,
    char *reason)
{
	struct cal_object *obj;
	const char *errstr;

	if ((obj = cal_parse(ev->value, ev->len, NULL, &errstr)) != NULL)
		return obj;
	/* A calendar without events (a VTODO list) is valid. */
	if (strcmp(errstr, "no VEVENT") == 0)
		*res_r = ENRICH_IGNORED;
	else {
		*res_r = ENRICH_POISON;
		snprintf(reason, ENRICH_REASON_MAX, "%s", errstr);
	}
	return NULL;
}

void
store_cal_write(struct enrich_store *s, const char *tenant,
    const char *user, const struct tenant_domains *td,
    const struct enrich_event *ev, const struct cal_object *obj)
{
	bool reply = obj->method == CAL_METHOD_REPLY;
	char part[32], off[32], *hdrs, *key_c;

	snprintf(part, sizeof(part), "%d", (int)ev->partition);
	snprintf(off, sizeof(off), "%lld", (long long)ev->offset);
	hdrs = store_headers_json(ev);
	key_c = text_utf8_clean(ev->key, strlen(ev->key), 1024);
	for (size_t i = 0; i < obj->n_events && !s->failed; i++) {
		const struct cal_event *e = &obj->events[i];
		char seq[16], *cid = NULL, *org, *starts, *ends, *uid, *sum,
		    *loc;
		const char *seen;
		PGresult *r;

		if (!cal_event_is_meeting(obj, i))
			continue;
		snprintf(seq, sizeof(seq), "%d", e->sequence);
		org = cal_addr(e->organizer.addr);
		starts = cal_time_str(&e->start, e->has_start);
		ends = cal_time_str(&e->end, e->has_start);
		uid = text_utf8_clean(e->uid, strlen(e->uid), 1024);
		sum = e->summary ? text_utf8_clean(e->summary,
		    strlen(e->summary), 4096) : NULL;
		loc = e->location ? text_utf8_clean(e->location,
		    strlen(e->location), 4096) : NULL;
		/* When the organizer and attendees were last seen: the
		 * meeting's start, else when the proxy saw the object.
		 * Never now(): a replayed record must write the same
		 * values it wrote the first time. */
		seen = starts != NULL ? starts :
		    store_rfc3339_or_null(enrich_event_header(ev,
		    "observed-at"));
		if (org != NULL)
			cid = resolve_contact(s, tenant, td, org,
			    strrchr(org, '@') + 1, e->organizer.cn, seen);
		free(cid);
		{
			const char *p[16] = { tenant, uid, seq, sum, loc,
			    cal_status_str(e), starts, ends, org, user,
			    ev->topic, part, off, key_c, hdrs, e->rrule };
			/* A REPLY carries the organizer's data too, but an
			 * attendee's client may have an older copy: it
			 * creates the meeting when unknown and otherwise
			 * only updates PARTSTATs.  Other methods move the
			 * meeting forward, never back, in SEQUENCE; a
			 * CANCEL without times keeps the known ones. */
			r = store_db(s, reply ?
			    "WITH old AS (SELECT id, sequence FROM meetings "
			    "WHERE tenant_id = $1 AND uid = $2), ins AS ("
			    "INSERT INTO meetings (tenant_id, uid, sequence, "
			    "summary, location, status, starts_at, ends_at, "
			    "organizer, mailbox_owner, kafka_topic, "
			    "kafka_partition, kafka_offset, kafka_key, "
			    "kafka_headers, rrule) SELECT $1, $2, $3, $4, $5, "
			    "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 "
			    "WHERE NOT EXISTS (SELECT FROM old) ON CONFLICT DO "
			    "NOTHING RETURNING id) SELECT id, true FROM ins "
			    "UNION ALL SELECT id, true FROM old" :
			    MEETING_WRITE, 16, p);
			/* No row at all: another writer created the UID
			 * between the look and the insert; the upsert
			 * settles it. */
			if (!reply && r != NULL && PQntuples(r) == 0) {
				PQclear(r);
				r = store_db(s, MEETING_UPSERT, 16, p);
			}
		}
		free(org);
		free(ends);
		free(uid);
		free(sum);
		free(loc);
		if (r == NULL) {
			free(starts);
			break;
		}
		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
			char *mid = xstrdup(PQgetvalue(r, 0, 0));
			bool same = strcmp(PQgetvalue(r, 0, 1), "t") == 0;

			PQclear(r);
			/* A CANCEL lists whom it tells, not who is
			 * invited: it leaves the attendees alone. */
			if (obj->method != CAL_METHOD_CANCEL)
				store_attendees(s, tenant, td, mid, e, seen,
				    same, reply);
			free(mid);
		} else
			PQclear(r);	/* an older SEQUENCE: nothing new */
		free(starts);	/* (seen may point into it) */
	}
	free(key_c);
	free(hdrs);
}

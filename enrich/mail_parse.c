/*
 * mail_parse.c - struct mail_parsed from enrich/mime (structure, decoding),
 * enrich/scrub (new words, quotes, signature, disclaimer) and enrich/ident
 * (address keys, names, automated senders).  See mail_parse.h.
 */
#include "enrich/mail_parse.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrich/ident/ident.h"
#include "enrich/mime/mime.h"
#include "enrich/scrub/scrub.h"
#include "enrich/textutil.h"
#include "lib/hex.h"
#include "lib/xmalloc.h"

const char *const mail_role_names[] = { "from", "to", "cc", "bcc" };

/* A copy of s cut at max on a character boundary; NULL for NULL or "". */
static char *
dup_field(const char *s, size_t max)
{
	if (s == NULL || *s == '\0')
		return NULL;
	return text_utf8_clean(s, strlen(s), max);
}

static void
add_list(struct mail_parsed *mp, enum mail_role role,
    const struct mime_addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct mime_addr *ma = &l->v[i];
		struct ident_addr ia;
		struct mail_addr *a;
		char name[IDENT_NAME_MAX + 1];
		const char *err;
		bool dup = false;

		if (ma->addr == NULL || ident_addr_parse(ma->addr,
		    strlen(ma->addr), 0, &ia, &err) != 0)
			continue;
		for (size_t j = 0; j < mp->naddrs && !dup; j++)
			dup = mp->addrs[j].role == role &&
			    strcmp(mp->addrs[j].address, ia.addr) == 0;
		if (dup)
			continue;
		if (mp->naddrs == MAIL_ADDRS_MAX) {
			mp->truncated++;
			return;
		}
		if (mp->naddrs % 16 == 0)
			mp->addrs = xreallocarray(mp->addrs, mp->naddrs + 16,
			    sizeof(*mp->addrs));
		a = &mp->addrs[mp->naddrs++];
		a->role = role;
		a->address = xstrdup(ia.addr);
		a->domain = strrchr(a->address, '@') + 1;
		ident_name_clean(ma->name ? ma->name : "", ma->name ?
		    strlen(ma->name) : 0, ia.addr, name, sizeof(name));
		a->display_name = dup_field(name, MAIL_FIELD_MAX);
	}
}

/* "YYYY-MM-DD HH:MM:SS+HHMM" in the sender's own offset. */
static char *
format_date(int64_t utc, int tz_min)
{
	time_t t = (time_t)(utc + (int64_t)tz_min * 60);
	struct tm tm;
	char buf[40];
	int a = tz_min < 0 ? -tz_min : tz_min;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 1 ||
	    tm.tm_year + 1900 > 9999)
		return NULL;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d%c%02d%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, tz_min < 0 ? '-' : '+', a / 60, a % 60);
	return xstrdup(buf);
}

static void
set_signature(struct mail_parsed *mp, const struct scrub_sig_fields *sf)
{
	char buf[IDENT_TITLE_MAX + 1], phone[IDENT_PHONE_MAX + 1];
	const char *err;

	if (sf->name != NULL) {
		char name[IDENT_NAME_MAX + 1];
		ident_name_clean(sf->name, strlen(sf->name), NULL, name,
		    sizeof(name));
		mp->sig.name = dup_field(name, IDENT_NAME_MAX);
	}
	if (sf->title != NULL) {
		ident_title_clean(sf->title, strlen(sf->title), buf,
		    sizeof(buf));
		mp->sig.title = dup_field(buf, sizeof(buf));
	}
	if (sf->company != NULL) {
		ident_title_clean(sf->company, strlen(sf->company), buf,
		    sizeof(buf));
		mp->sig.company = dup_field(buf, sizeof(buf));
	}
	/* Only numbers written in international form: a national number
	 * says nothing about its country here. */
	if (sf->phone != NULL && ident_phone_e164(sf->phone,
	    strlen(sf->phone), NULL, phone, sizeof(phone), &err) == 0)
		mp->sig.phone = xstrdup(phone);
}

static void
scrub_bodies(struct mail_parsed *mp, const struct mime_message *m)
{
	struct scrub_result r;
	char *text = NULL;

	if ((m->text == NULL || m->text_len == 0) &&
	    (m->html == NULL || m->html_len == 0))
		return;
	scrub_message(m->text, m->text_len, m->html, m->html_len, NULL,
	    &text, &r);
	mp->body_text = dup_field(r.body, MAIL_BODY_MAX);
	mp->body_quoted = dup_field(r.quoted, MAIL_BODY_MAX);
	mp->body_signature = dup_field(r.signature, MAIL_BODY_MAX);
	mp->body_disclaimer = dup_field(r.disclaimer, MAIL_BODY_MAX);
	set_signature(mp, &r.sig);
	scrub_result_free(&r);
	free(text);
}

static void
set_auto(struct mail_parsed *mp, const struct mime_message *m)
{
	struct ident_header h[MIME_AUTO_FIELDS_MAX];
	const char *local = NULL, *at;
	size_t local_len = 0;

	for (size_t i = 0; i < m->n_auto_fields; i++)
		h[i] = (struct ident_header){ m->auto_fields[i].name,
		    strlen(m->auto_fields[i].name), m->auto_fields[i].value,
		    strlen(m->auto_fields[i].value) };
	for (size_t i = 0; i < mp->naddrs; i++)
		if (mp->addrs[i].role == MAIL_ROLE_FROM) {
			local = mp->addrs[i].address;
			at = strrchr(local, '@');
			local_len = (size_t)(at - local);
			break;
		}
	mp->auto_reasons = ident_auto_reasons(local, local_len, h,
	    m->n_auto_fields);
}

/* A header section starts with "name:" (RFC 5322 ftext). */
static bool
starts_with_field(const char *msg, size_t len)
{
	size_t i = 0;

	while (i < len && msg[i] >= 33 && msg[i] <= 126 && msg[i] != ':')
		i++;
	return i > 0 && i < len && msg[i] == ':';
}

int
mail_parse(const char *msg, size_t len, struct mail_parsed *mp,
    const char **errstr_r)
{
	struct mime_message m;
	struct mime_limits lim;

	memset(mp, 0, sizeof(*mp));
	if (len > 0 && !starts_with_field(msg, len)) {
		*errstr_r = "no RFC 5322 header section";
		return -1;
	}
	mime_limits_default(&lim);
	lim.max_refs = MAIL_REFS_MAX;
	lim.max_body = MAIL_BODY_MAX;
	lim.max_addrs = MAIL_ADDRS_MAX;
	if (mime_parse(msg, len, &lim, &m, errstr_r) != 0)
		return -1;
	mp->message_id = dup_field(m.message_id, MAIL_FIELD_MAX);
	if (m.n_in_reply_to > 0)
		mp->in_reply_to = dup_field(m.in_reply_to[0], MAIL_FIELD_MAX);
	if (m.n_references > 0) {
		mp->refs = xcalloc(m.n_references, sizeof(*mp->refs));
		for (size_t i = 0; i < m.n_references; i++) {
			char *id = dup_field(m.references[i], MAIL_FIELD_MAX);
			if (id != NULL)
				mp->refs[mp->nrefs++] = id;
		}
	}
	mp->subject = dup_field(m.subject, MAIL_FIELD_MAX);
	if (m.has_date)
		mp->date = format_date(m.date_utc, m.date_tz_min);
	add_list(mp, MAIL_ROLE_FROM, &m.from);
	add_list(mp, MAIL_ROLE_TO, &m.to);
	add_list(mp, MAIL_ROLE_CC, &m.cc);
	scrub_bodies(mp, &m);
	set_auto(mp, &m);
	mp->ncalendars = m.n_calendars;
	for (size_t i = 0; i < m.n_attachments; i++) {
		const struct mime_attachment *ma = &m.attachments[i];
		struct mail_attachment *a;

		if (mp->natts == MAIL_ATTACHMENTS_MAX) {
			mp->truncated++;
			break;
		}
		if (mp->atts == NULL)
			mp->atts = xcalloc(m.n_attachments, sizeof(*mp->atts));
		a = &mp->atts[mp->natts++];
		a->filename = dup_field(ma->filename, MAIL_FIELD_MAX);
		a->content_type = dup_field(ma->content_type, 256);
		if (a->content_type == NULL)
			a->content_type = xstrdup("application/octet-stream");
		a->size = ma->size;
		hex_encode(ma->sha256, 32, a->sha256);
	}
	if (m.flags & (MIME_F_BODY_TRUNC | MIME_F_PARTS | MIME_F_DEPTH |
	    MIME_F_ADDR_TRUNC))
		mp->truncated++;
	mime_message_free(&m);
	return 0;
}

void
mail_parsed_fini(struct mail_parsed *mp)
{
	free(mp->message_id);
	free(mp->in_reply_to);
	for (size_t i = 0; i < mp->nrefs; i++)
		free(mp->refs[i]);
	free(mp->refs);
	free(mp->subject);
	free(mp->date);
	for (size_t i = 0; i < mp->naddrs; i++) {
		free(mp->addrs[i].address);
		free(mp->addrs[i].display_name);
	}
	free(mp->addrs);
	free(mp->body_text);
	free(mp->body_quoted);
	free(mp->body_signature);
	free(mp->body_disclaimer);
	free(mp->sig.name);
	free(mp->sig.title);
	free(mp->sig.company);
	free(mp->sig.phone);
	for (size_t i = 0; i < mp->natts; i++) {
		free(mp->atts[i].filename);
		free(mp->atts[i].content_type);
	}
	free(mp->atts);
	memset(mp, 0, sizeof(*mp));
}

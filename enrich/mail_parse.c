/*
 * mail_parse.c - struct mail_parsed from libetpan's RFC 5322 (mailimf) and
 * MIME (mailmime) parsers.  See mail_parse.h.
 *
 * libetpan is lenient: it skips header fields it cannot parse, which is
 * what we want for mail in the wild.  What it returns is still untrusted:
 * lengths are capped here and every string is repaired to UTF-8 before it
 * can reach PostgreSQL.
 */
#include "enrich/mail_parse.h"

#include <errno.h>
#include <iconv.h>
#include <libetpan/libetpan.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/textutil.h"
#include "lib/xmalloc.h"

const char *const mail_role_names[] = { "from", "to", "cc", "bcc" };

static char *
clean(const char *s, size_t max)
{
	return s == NULL ? NULL : text_utf8_clean(s, strlen(s), max);
}

/* RFC 2047 encoded-words to UTF-8; raw (repaired) when that fails. */
static char *
decode_phrase(const char *s)
{
	size_t idx = 0;
	char *dec = NULL, *out;
	bool raw_utf8;

	if (s == NULL)
		return NULL;
	/* Raw 8-bit text outside encoded-words is UTF-8 when it is valid
	 * UTF-8 (RFC 6532), else most likely Windows-1252. */
	{
		char *c = clean(s, strlen(s) + 1);
		raw_utf8 = strcmp(c, s) == 0;
		free(c);
	}
	if (mailmime_encoded_phrase_parse(raw_utf8 ? "utf-8" : "windows-1252",
	    s, strlen(s), &idx, "utf-8", &dec) == MAILIMF_NO_ERROR &&
	    dec != NULL) {
		out = clean(dec, MAIL_FIELD_MAX);
		free(dec);
	} else
		out = clean(s, MAIL_FIELD_MAX);
	/* Folding leaves CR/LF in the middle of a subject: make it blanks. */
	for (char *p = out; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	return out;
}

static void
add_mailbox(struct mail_parsed *mp, enum mail_role role,
    const struct mailimf_mailbox *mb)
{
	struct mail_addr *a;
	const char *domain;
	char *addr;

	if (mb == NULL || mb->mb_addr_spec == NULL)
		return;
	if (mp->naddrs == MAIL_ADDRS_MAX) {
		mp->truncated++;
		return;
	}
	addr = text_address_canon(mb->mb_addr_spec, &domain);
	if (addr == NULL)
		return;
	for (size_t i = 0; i < mp->naddrs; i++) {
		if (mp->addrs[i].role == role &&
		    strcmp(mp->addrs[i].address, addr) == 0) {
			free(addr);
			return;
		}
	}
	{
		/* An address with bytes that are not UTF-8 would be altered
		 * by repair and so match nothing; drop it instead. */
		char *c = text_utf8_clean(addr, strlen(addr), 320);
		bool same = strcmp(c, addr) == 0;

		free(c);
		if (!same) {
			free(addr);
			return;
		}
	}
	mp->addrs = xreallocarray(mp->addrs, mp->naddrs + 1,
	    sizeof(*mp->addrs));
	a = &mp->addrs[mp->naddrs++];
	a->role = role;
	a->address = addr;
	a->domain = domain;
	a->display_name = decode_phrase(mb->mb_display_name);
	if (a->display_name != NULL && a->display_name[0] == '\0')
		x_free(&a->display_name);
}

static void
add_mailbox_list(struct mail_parsed *mp, enum mail_role role,
    const struct mailimf_mailbox_list *l)
{
	if (l == NULL || l->mb_list == NULL)
		return;
	for (clistiter *it = clist_begin(l->mb_list); it; it = clist_next(it))
		add_mailbox(mp, role, clist_content(it));
}

static void
add_address_list(struct mail_parsed *mp, enum mail_role role,
    const struct mailimf_address_list *l)
{
	if (l == NULL || l->ad_list == NULL)
		return;
	for (clistiter *it = clist_begin(l->ad_list); it; it = clist_next(it)) {
		const struct mailimf_address *ad = clist_content(it);

		if (ad->ad_type == MAILIMF_ADDRESS_MAILBOX)
			add_mailbox(mp, role, ad->ad_data.ad_mailbox);
		else if (ad->ad_type == MAILIMF_ADDRESS_GROUP &&
		    ad->ad_data.ad_group != NULL)
			add_mailbox_list(mp, role,
			    ad->ad_data.ad_group->grp_mb_list);
	}
}

static void
set_refs(struct mail_parsed *mp, const clist *l)
{
	size_t n, skip, i = 0;

	if (l == NULL || mp->refs != NULL)
		return;
	n = (size_t)clist_count(l);
	/* The newest references are the useful ones for threading. */
	skip = n > MAIL_REFS_MAX ? n - MAIL_REFS_MAX : 0;
	mp->truncated += skip > 0;
	mp->refs = xcalloc(n - skip + 1, sizeof(*mp->refs));
	for (clistiter *it = clist_begin(l); it; it = clist_next(it), i++)
		if (i >= skip)
			mp->refs[mp->nrefs++] = clean(clist_content(it),
			    MAIL_FIELD_MAX);
}

static void
set_date(struct mail_parsed *mp, const struct mailimf_date_time *d)
{
	int zone, zh, zm;

	if (d == NULL || mp->date != NULL)
		return;
	/* libetpan hands back what the header said; PostgreSQL rejects
	 * impossible dates, and one bad Date must not poison a message. */
	if (d->dt_year < 1900 || d->dt_year > 9999 || d->dt_month < 1 ||
	    d->dt_month > 12 || d->dt_day < 1 || d->dt_day > 31 ||
	    d->dt_hour < 0 || d->dt_hour > 23 || d->dt_min < 0 ||
	    d->dt_min > 59 || d->dt_sec < 0 || d->dt_sec > 60 ||
	    d->dt_zone < -1400 || d->dt_zone > 1400)
		return;
	zone = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	zh = zone / 100;
	zm = zone % 100;
	if (zm > 59)
		return;
	mp->date = xasprintf("%04d-%02d-%02d %02d:%02d:%02d%c%02d%02d",
	    d->dt_year, d->dt_month, d->dt_day, d->dt_hour, d->dt_min,
	    d->dt_sec > 59 ? 59 : d->dt_sec, d->dt_zone < 0 ? '-' : '+',
	    zh, zm);
}

static void
parse_header_fields(struct mail_parsed *mp, const struct mailimf_fields *f)
{
	for (clistiter *it = clist_begin(f->fld_list); it;
	    it = clist_next(it)) {
		const struct mailimf_field *fld = clist_content(it);

		switch (fld->fld_type) {
		case MAILIMF_FIELD_MESSAGE_ID:
			if (mp->message_id == NULL &&
			    fld->fld_data.fld_message_id->mid_value != NULL)
				mp->message_id = clean(fld->fld_data.
				    fld_message_id->mid_value, MAIL_FIELD_MAX);
			break;
		case MAILIMF_FIELD_IN_REPLY_TO: {
			clist *l = fld->fld_data.fld_in_reply_to->mid_list;
			if (mp->in_reply_to == NULL && l != NULL &&
			    clist_begin(l) != NULL)
				mp->in_reply_to = clean(
				    clist_content(clist_begin(l)),
				    MAIL_FIELD_MAX);
			break;
		}
		case MAILIMF_FIELD_REFERENCES:
			set_refs(mp, fld->fld_data.fld_references->mid_list);
			break;
		case MAILIMF_FIELD_SUBJECT:
			if (mp->subject == NULL)
				mp->subject = decode_phrase(
				    fld->fld_data.fld_subject->sbj_value);
			break;
		case MAILIMF_FIELD_ORIG_DATE:
			set_date(mp, fld->fld_data.fld_orig_date->dt_date_time);
			break;
		case MAILIMF_FIELD_FROM:
			add_mailbox_list(mp, MAIL_ROLE_FROM,
			    fld->fld_data.fld_from->frm_mb_list);
			break;
		case MAILIMF_FIELD_TO:
			add_address_list(mp, MAIL_ROLE_TO,
			    fld->fld_data.fld_to->to_addr_list);
			break;
		case MAILIMF_FIELD_CC:
			add_address_list(mp, MAIL_ROLE_CC,
			    fld->fld_data.fld_cc->cc_addr_list);
			break;
		case MAILIMF_FIELD_BCC:
			add_address_list(mp, MAIL_ROLE_BCC,
			    fld->fld_data.fld_bcc->bcc_addr_list);
			break;
		default:
			break;
		}
	}
}

static void
sha256_hex(const void *p, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *
content_type_str(const struct mailmime_content *ct)
{
	const char *type = "application", *sub;
	char *s;

	if (ct == NULL || ct->ct_type == NULL)
		return xstrdup("text/plain");
	if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
		static const char *const names[] = { NULL, "text", "image",
		    "audio", "video", "application" };
		const struct mailmime_discrete_type *d =
		    ct->ct_type->tp_data.tp_discrete_type;
		if (d->dt_type == MAILMIME_DISCRETE_TYPE_EXTENSION)
			type = d->dt_extension;
		else if (d->dt_type >= 1 && d->dt_type <= 5)
			type = names[d->dt_type];
	} else {
		const struct mailmime_composite_type *c =
		    ct->ct_type->tp_data.tp_composite_type;
		type = c->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE ?
		    "message" : c->ct_type == MAILMIME_COMPOSITE_TYPE_MULTIPART
		    ? "multipart" : c->ct_token;
	}
	sub = ct->ct_subtype ? ct->ct_subtype : "octet-stream";
	s = xasprintf("%s/%s", type ? type : "application", sub);
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	{
		char *c = clean(s, 255);

		free(s);
		return c;
	}
}

static void
add_attachment(struct mail_parsed *mp, const char *fname, char *ctype,
    const char *p, size_t len)
{
	struct mail_attachment *a;

	if (mp->natts == MAIL_ATTACHMENTS_MAX) {
		mp->truncated++;
		free(ctype);
		return;
	}
	mp->atts = xreallocarray(mp->atts, mp->natts + 1, sizeof(*mp->atts));
	a = &mp->atts[mp->natts++];
	a->filename = decode_phrase(fname);
	a->content_type = ctype;
	a->size = len;
	sha256_hex(p, len, a->sha256);
}

/*
 * Converts (p, len) from charset cs with iconv; bytes cs cannot decode
 * become U+FFFD.  Output bounded by MAIL_BODY_MAX.  NULL when iconv does
 * not know cs.  (libetpan's charconv() leaks on every call in 1.9.4.)
 */
static char *
to_utf8(const char *cs, const char *p, size_t len)
{
	iconv_t cd = iconv_open("UTF-8", cs);
	size_t cap, left_out;
	char *out, *o, *in = (char *)p;

	if (cd == (iconv_t)-1)
		return NULL;
	cap = (len < MAIL_BODY_MAX ? len : MAIL_BODY_MAX) * 4 + 4;
	out = o = xmalloc(cap);
	left_out = cap - 4;
	while (len > 0) {
		if (iconv(cd, &in, &len, &o, &left_out) != (size_t)-1)
			break;
		if (errno == E2BIG)
			break;	/* the limit: keep what fits */
		/* EILSEQ/EINVAL: one undecodable byte */
		if (left_out < 3)
			break;
		memcpy(o, "\xef\xbf\xbd", 3);
		o += 3;
		left_out -= 3;
		in++;
		len--;
	}
	*o = '\0';
	iconv_close(cd);
	return out;
}

static void
single_part(struct mail_parsed *mp, struct mailmime *m)
{
	struct mailmime_single_fields sf;
	struct mailmime_data *data = m->mm_data.mm_single;
	char *dec = NULL, *ctype, *fname;
	size_t idx = 0, declen = 0;
	int enc = MAILMIME_MECHANISM_8BIT;
	bool attachment, is_text;

	if (data == NULL || data->dt_type != MAILMIME_DATA_TEXT)
		return;
	memset(&sf, 0, sizeof(sf));
	mailmime_single_fields_init(&sf, m->mm_mime_fields, m->mm_content_type);
	if (sf.fld_encoding != NULL)
		enc = sf.fld_encoding->enc_type;
	fname = sf.fld_disposition_filename ? sf.fld_disposition_filename :
	    sf.fld_content_name;
	ctype = content_type_str(m->mm_content_type);
	is_text = strcmp(ctype, "text/plain") == 0;
	attachment = fname != NULL || (sf.fld_disposition != NULL &&
	    sf.fld_disposition->dsp_type != NULL &&
	    sf.fld_disposition->dsp_type->dsp_type ==
	    MAILMIME_DISPOSITION_TYPE_ATTACHMENT) ||
	    (strncmp(ctype, "text/", 5) != 0 &&
	    strncmp(ctype, "multipart/", 10) != 0);
	if (!attachment && !(is_text && mp->body_text == NULL)) {
		free(ctype);
		return;
	}
	if (mailmime_part_parse(data->dt_data.dt_text.dt_data,
	    data->dt_data.dt_text.dt_length, &idx, enc, &dec, &declen) !=
	    MAILIMF_NO_ERROR) {
		free(ctype);
		return;
	}
	if (attachment) {
		add_attachment(mp, fname, ctype, dec, declen);
		ctype = NULL;
	} else {
		const char *cs = sf.fld_content_charset ?
		    sf.fld_content_charset : "us-ascii";
		char *conv = NULL;

		if (strcasecmp(cs, "utf-8") != 0 &&
		    strcasecmp(cs, "us-ascii") != 0)
			conv = to_utf8(cs, dec, declen);
		if (conv != NULL) {
			mp->body_text = text_utf8_clean(conv, strlen(conv),
			    MAIL_BODY_MAX);
			free(conv);
		} else
			mp->body_text = text_utf8_clean(dec, declen,
			    MAIL_BODY_MAX);
	}
	free(ctype);
	mmap_string_unref(dec);
}

static void
walk(struct mail_parsed *mp, struct mailmime *m, int depth)
{
	if (m == NULL || depth > MAIL_MIME_DEPTH_MAX)
		return;
	switch (m->mm_type) {
	case MAILMIME_SINGLE:
		single_part(mp, m);
		break;
	case MAILMIME_MULTIPLE:
		if (m->mm_data.mm_multipart.mm_mp_list == NULL)
			break;
		for (clistiter *it = clist_begin(
		    m->mm_data.mm_multipart.mm_mp_list); it;
		    it = clist_next(it))
			walk(mp, clist_content(it), depth + 1);
		break;
	case MAILMIME_MESSAGE:
		/* The outermost message is the one we index; an attached
		 * message/rfc822 is an attachment (its own parties are not
		 * this message's participants). */
		if (depth == 0)
			walk(mp, m->mm_data.mm_message.mm_msg_mime, depth + 1);
		else if (m->mm_body != NULL &&
		    m->mm_body->dt_type == MAILMIME_DATA_TEXT)
			add_attachment(mp, NULL, xstrdup("message/rfc822"),
			    m->mm_body->dt_data.dt_text.dt_data,
			    m->mm_body->dt_data.dt_text.dt_length);
		break;
	default:
		break;
	}
}

int
mail_parse(const char *msg, size_t len, struct mail_parsed *mp,
    const char **errstr_r)
{
	struct mailimf_fields *fields = NULL;
	struct mailmime *mime = NULL;
	size_t idx = 0;

	memset(mp, 0, sizeof(*mp));
	if (len == 0) {
		*errstr_r = "empty message";
		return -1;
	}
	if (mailimf_fields_parse(msg, len, &idx, &fields) != MAILIMF_NO_ERROR ||
	    fields == NULL) {
		*errstr_r = "no RFC 5322 header section";
		return -1;
	}
	if (clist_count(fields->fld_list) == 0) {
		mailimf_fields_free(fields);
		*errstr_r = "no RFC 5322 header fields";
		return -1;
	}
	parse_header_fields(mp, fields);
	mailimf_fields_free(fields);

	idx = 0;
	if (mailmime_parse(msg, len, &idx, &mime) == MAILIMF_NO_ERROR &&
	    mime != NULL) {
		walk(mp, mime, 0);
		mailmime_free(mime);
	}
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
	for (size_t i = 0; i < mp->natts; i++) {
		free(mp->atts[i].filename);
		free(mp->atts[i].content_type);
	}
	free(mp->atts);
	memset(mp, 0, sizeof(*mp));
}

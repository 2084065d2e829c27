/*
 * mime.c - the bounded walk over a message's entity tree.
 *
 * libetpan's mailmime_parse() builds the whole tree recursively with no
 * depth or part limit, so a hostile message nested ten thousand deep
 * would exhaust the stack.  The walk is therefore done here, with every
 * limit of struct mime_limits checked before it is passed, and libetpan
 * is asked only for what it does well: the grammar of single fields and
 * the transfer decoding of one part's body.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>
#include <openssl/sha.h>

#include "enrich/mime/mime_int.h"
#include "lib/xmalloc.h"

#define PARAMS_MAX 64		/* parameters kept per field */
#define FILENAME_MAX_BYTES 1024

void
mime_limits_default(struct mime_limits *l)
{
	l->max_message = 64u << 20;
	l->max_header = 256u << 10;
	l->max_header_fields = 1000;
	l->max_depth = 16;
	l->max_parts = 500;
	l->max_body = 4u << 20;
	l->max_calendar = 1u << 20;
	l->max_addrs = 500;
	l->max_refs = 100;
}

struct walk {
	const struct mime_limits *l;
	struct mime_message *m;
	struct mbuf text, html;
	struct mime_field *fields;	/* scratch, max_header_fields */
};

/* What one entity's header says about it. */
struct entity {
	char type[64], subtype[64];
	int mechanism;			/* MAILMIME_MECHANISM_* */
	bool attachment, is_inline;
	char *boundary;
	char *charset;
	char *filename;
	char *content_id;
	char *method;			/* text/calendar method= */
	size_t nparams;
	char *pattrs[PARAMS_MAX], *pvals[PARAMS_MAX];
};

static void
entity_fini(struct entity *e)
{
	free(e->boundary);
	free(e->charset);
	free(e->filename);
	free(e->content_id);
	free(e->method);
	for (size_t i = 0; i < e->nparams; i++) {
		free(e->pattrs[i]);
		free(e->pvals[i]);
	}
}

static void
copy_lower(char *dst, size_t sz, const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] && i + 1 < sz; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

static void
content_type_names(const struct mailmime_content *ct, char *type, size_t tsz)
{
	static const char *const discrete[] = {
		[MAILMIME_DISCRETE_TYPE_TEXT] = "text",
		[MAILMIME_DISCRETE_TYPE_IMAGE] = "image",
		[MAILMIME_DISCRETE_TYPE_AUDIO] = "audio",
		[MAILMIME_DISCRETE_TYPE_VIDEO] = "video",
		[MAILMIME_DISCRETE_TYPE_APPLICATION] = "application",
	};
	const struct mailmime_type *t = ct->ct_type;

	copy_lower(type, tsz, "application");
	if (t == NULL)
		return;
	if (t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE &&
	    t->tp_data.tp_discrete_type != NULL) {
		int d = t->tp_data.tp_discrete_type->dt_type;

		if (d == MAILMIME_DISCRETE_TYPE_EXTENSION)
			copy_lower(type, tsz,
			    t->tp_data.tp_discrete_type->dt_extension);
		else if (d > 0 && d <= MAILMIME_DISCRETE_TYPE_APPLICATION)
			copy_lower(type, tsz, discrete[d]);
	} else if (t->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE &&
	    t->tp_data.tp_composite_type != NULL) {
		int c = t->tp_data.tp_composite_type->ct_type;

		if (c == MAILMIME_COMPOSITE_TYPE_MESSAGE)
			copy_lower(type, tsz, "message");
		else if (c == MAILMIME_COMPOSITE_TYPE_MULTIPART)
			copy_lower(type, tsz, "multipart");
		else
			copy_lower(type, tsz,
			    t->tp_data.tp_composite_type->ct_token);
	}
}

static void
param_add(struct entity *e, const char *a, const char *v)
{
	if (e->nparams >= PARAMS_MAX || a == NULL || v == NULL)
		return;
	e->pattrs[e->nparams] = xstrdup(a);
	e->pvals[e->nparams] = xstrdup(v);
	e->nparams++;
}

/* Content-Type; RFC 2045 5.2: an unparsable one means text/plain. */
static void
parse_content_type(struct walk *w, struct entity *e,
    const struct mime_field *f, const char *dflt)
{
	struct mailmime_content *ct = NULL;
	size_t idx = 0;
	char *u;

	snprintf(e->type, sizeof(e->type), "%.*s",
	    (int)strcspn(dflt, "/"), dflt);
	snprintf(e->subtype, sizeof(e->subtype), "%s", strchr(dflt, '/') + 1);
	if (f == NULL)
		return;
	u = mime_unfold(f->val, f->vlen);
	if (mailmime_content_parse(u, strlen(u), &idx, &ct) !=
	    MAILIMF_NO_ERROR || ct == NULL) {
		w->m->flags |= MIME_F_BAD_HEADER;
		snprintf(e->type, sizeof(e->type), "text");
		snprintf(e->subtype, sizeof(e->subtype), "plain");
		free(u);
		return;
	}
	content_type_names(ct, e->type, sizeof(e->type));
	copy_lower(e->subtype, sizeof(e->subtype), ct->ct_subtype);
	if (ct->ct_parameters != NULL) {
		for (clistiter *it = clist_begin(ct->ct_parameters); it;
		    it = clist_next(it)) {
			const struct mailmime_parameter *p = clist_content(it);

			param_add(e, p->pa_name, p->pa_value);
			if (strcasecmp(p->pa_name, "boundary") == 0 &&
			    e->boundary == NULL)
				e->boundary = xstrdup(p->pa_value);
			else if (strcasecmp(p->pa_name, "charset") == 0 &&
			    e->charset == NULL)
				e->charset = xstrdup(p->pa_value);
			else if (strcasecmp(p->pa_name, "method") == 0 &&
			    e->method == NULL)
				e->method = xstrdup(p->pa_value);
		}
	}
	mailmime_content_free(ct);
	free(u);
}

static void
parse_disposition(struct walk *w, struct entity *e,
    const struct mime_field *f)
{
	struct mailmime_disposition *d = NULL;
	size_t idx = 0, n = 0;
	const char *attrs[PARAMS_MAX], *vals[PARAMS_MAX];
	char *u;
	bool bad = false;

	if (f == NULL)
		goto name_from_type;
	u = mime_unfold(f->val, f->vlen);
	if (mailmime_disposition_parse(u, strlen(u), &idx, &d) !=
	    MAILIMF_NO_ERROR || d == NULL) {
		w->m->flags |= MIME_F_BAD_HEADER;
		/* a broken disposition still says "attachment" */
		e->attachment = strncasecmp(u, "attachment", 10) == 0;
		free(u);
		goto name_from_type;
	}
	free(u);
	e->attachment = d->dsp_type != NULL &&
	    d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT;
	e->is_inline = d->dsp_type != NULL &&
	    d->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_INLINE;
	for (clistiter *it = clist_begin(d->dsp_parms); it && n < PARAMS_MAX;
	    it = clist_next(it)) {
		const struct mailmime_disposition_parm *p = clist_content(it);

		if (p->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME) {
			attrs[n] = "filename";
			vals[n++] = p->pa_data.pa_filename;
		} else if (p->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER) {
			attrs[n] = p->pa_data.pa_parameter->pa_name;
			vals[n++] = p->pa_data.pa_parameter->pa_value;
		}
	}
	e->filename = mime_param_2231(attrs, vals, n, "filename",
	    FILENAME_MAX_BYTES, &bad);
	mailmime_disposition_free(d);
name_from_type:
	/* the older Content-Type name= (RFC 2046 obsolete, still common) */
	if (e->filename == NULL || e->filename[0] == '\0') {
		free(e->filename);
		e->filename = mime_param_2231((const char *const *)e->pattrs,
		    (const char *const *)e->pvals, e->nparams, "name",
		    FILENAME_MAX_BYTES, &bad);
	}
	if (bad)
		w->m->flags |= MIME_F_CHARSET;
}

static void
parse_entity_header(struct walk *w, struct entity *e, const char *h,
    size_t hlen, const char *dflt)
{
	const struct mime_field *f;
	bool over = false;
	size_t nf;

	memset(e, 0, sizeof(*e));
	e->mechanism = MAILMIME_MECHANISM_7BIT;
	nf = mime_fields_split(h, hlen, w->fields, w->l->max_header_fields,
	    &over);
	if (over)
		w->m->flags |= MIME_F_HEADER_TRUNC;
	parse_content_type(w, e, mime_field_find(w->fields, nf,
	    "Content-Type"), dflt);
	if ((f = mime_field_find(w->fields, nf,
	    "Content-Transfer-Encoding")) != NULL) {
		struct mailmime_mechanism *mech = NULL;
		char *u = mime_unfold(f->val, f->vlen);
		size_t idx = 0;

		if (mailmime_encoding_parse(u, strlen(u), &idx, &mech) ==
		    MAILIMF_NO_ERROR && mech != NULL) {
			/* unknown tokens (x-uuencode...) are passed through */
			if (mech->enc_type != MAILMIME_MECHANISM_TOKEN)
				e->mechanism = mech->enc_type;
			mailmime_mechanism_free(mech);
		}
		free(u);
	}
	if ((f = mime_field_find(w->fields, nf, "Content-ID")) != NULL) {
		char *u = mime_unfold(f->val, f->vlen);
		size_t l = strlen(u);

		if (l >= 2 && u[0] == '<' && u[l - 1] == '>') {
			memmove(u, u + 1, l - 2);
			u[l - 2] = '\0';
		}
		e->content_id = mime_to_utf8(u, strlen(u), NULL, 998, NULL,
		    NULL, NULL);
		free(u);
	}
	parse_disposition(w, e, mime_field_find(w->fields, nf,
	    "Content-Disposition"));
}

/*
 * Transfer-decoded copy of the body; free with mmap_string_unref().
 * libetpan's quoted-printable decoder reads the two characters after a
 * '=' without checking the length ("=3" at the very end of the input):
 * it decodes a copy followed by NUL padding, never the caller's buffer.
 */
#define DECODE_PAD 4
static char *
decode_body(const char *body, size_t blen, int mechanism, size_t *n_r)
{
	char *r = NULL, *copy;
	size_t idx = 0;
	int rc;

	if (blen == 0) {
		*n_r = 0;
		return NULL;
	}
	copy = xmalloc(blen + DECODE_PAD);
	memcpy(copy, body, blen);
	memset(copy + blen, 0, DECODE_PAD);
	rc = mailmime_part_parse(copy, blen, &idx, mechanism, &r, n_r);
	free(copy);
	if (rc != MAILIMF_NO_ERROR || r == NULL) {
		*n_r = 0;
		return NULL;
	}
	return r;
}

/* Text in UTF-8 with LF line ends, appended to a body buffer. */
static void
add_text(struct walk *w, struct mbuf *dst, const struct entity *e,
    const char *body, size_t blen)
{
	size_t n = 0, ul = 0;
	char *raw = decode_body(body, blen, e->mechanism, &n), *u;
	bool bad = false, trunc = false;

	if (raw == NULL)
		return;
	u = mime_to_utf8(raw, n, e->charset, w->l->max_body, &ul, &bad,
	    &trunc);
	mmap_string_unref(raw);
	if (bad)
		w->m->flags |= MIME_F_CHARSET;
	if (dst->len > 0 && dst->p[dst->len - 1] != '\n')
		mbuf_addc(dst, '\n');
	for (size_t i = 0; i < ul; i++) {
		if (u[i] == '\r') {
			if (i + 1 < ul && u[i + 1] == '\n')
				continue;
			mbuf_addc(dst, '\n');
		} else if (!mbuf_addc(dst, u[i])) {
			/* cut at a UTF-8 character boundary */
			while (dst->len > 0 && ((unsigned char)
			    dst->p[dst->len - 1] & 0xc0) == 0x80)
				dst->len--;
			if (dst->len > 0 &&
			    (unsigned char)dst->p[dst->len - 1] >= 0xc0)
				dst->len--;
			break;
		}
	}
	if (trunc || dst->trunc)
		w->m->flags |= MIME_F_BODY_TRUNC;
	free(u);
}

static void
add_attachment(struct walk *w, const struct entity *e, const char *body,
    size_t blen)
{
	struct mime_attachment *a;
	size_t n = 0;
	char *raw = decode_body(body, blen, e->mechanism, &n);

	w->m->attachments = xreallocarray(w->m->attachments,
	    w->m->n_attachments + 1, sizeof(*w->m->attachments));
	a = &w->m->attachments[w->m->n_attachments++];
	memset(a, 0, sizeof(*a));
	a->filename = xstrdup(e->filename ? e->filename : "");
	char *ct = xasprintf("%s/%s", e->type, e->subtype);
	a->content_type = mime_to_utf8(ct, strlen(ct), NULL, 256, NULL, NULL,
	    NULL);
	free(ct);
	a->content_id = e->content_id ? xstrdup(e->content_id) : NULL;
	a->is_inline = e->is_inline;
	a->size = n;
	SHA256((const unsigned char *)(raw ? raw : ""), n, a->sha256);
	if (raw != NULL)
		mmap_string_unref(raw);
}

/* iTIP METHOD: the Content-Type parameter, else the VCALENDAR line. */
static char *
calendar_method(const struct entity *e, const char *t, size_t n)
{
	const char *p = t, *end = t + n;

	if (e->method != NULL && e->method[0])
		goto upper;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (ll > 7 && strncasecmp(p, "METHOD:", 7) == 0) {
			char *m = xstrndup(p + 7, ll - 7);

			m[strcspn(m, "\r ;")] = '\0';
			for (char *c = m; *c; c++)
				*c = (char)toupper((unsigned char)*c);
			return m;
		}
		if (ll >= 12 && strncasecmp(p, "BEGIN:VEVENT", 12) == 0)
			break;	/* METHOD is a VCALENDAR property */
		p = nl ? nl + 1 : end;
	}
	return xstrdup("");
upper:;
	/* a parameter is raw header bytes: make it UTF-8 like the rest */
	char *m = mime_to_utf8(e->method, strlen(e->method), NULL, 64, NULL,
	    NULL, NULL);
	for (char *c = m; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	return m;
}

static void
add_calendar(struct walk *w, const struct entity *e, const char *body,
    size_t blen)
{
	struct mime_calendar *c;
	size_t n = 0;
	char *raw = decode_body(body, blen, e->mechanism, &n);
	bool bad = false, trunc = false;

	w->m->calendars = xreallocarray(w->m->calendars, w->m->n_calendars + 1,
	    sizeof(*w->m->calendars));
	c = &w->m->calendars[w->m->n_calendars++];
	c->text = mime_to_utf8(raw ? raw : "", n,
	    e->charset ? e->charset : "utf-8", w->l->max_calendar, &c->len,
	    &bad, &trunc);
	c->method = calendar_method(e, c->text, c->len);
	if (raw != NULL)
		mmap_string_unref(raw);
	if (bad)
		w->m->flags |= MIME_F_CHARSET;
	if (trunc)
		w->m->flags |= MIME_F_CAL_TRUNC;
}

static void walk_entity(struct walk *w, const char *h, size_t hlen,
    const char *body, size_t blen, unsigned depth, const char *dflt);

/*
 * A delimiter line (RFC 2046 5.1.1): at the start of a line, "--" then the
 * boundary, then "--" for the close delimiter, then only white space.
 * Returns the line's length including its line end, 0 if p is not one.
 */
static size_t
delimiter_at(const char *p, const char *end, const char *bd, size_t bl,
    bool *close_r)
{
	const char *q;

	if ((size_t)(end - p) < bl + 2 || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, bd, bl) != 0)
		return 0;
	q = p + 2 + bl;
	*close_r = end - q >= 2 && q[0] == '-' && q[1] == '-';
	if (*close_r)
		q += 2;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q < end && *q == '\r')
		q++;
	if (q < end && *q != '\n')
		return 0;	/* "--bound" and more: not a delimiter */
	return (size_t)(q - p) + (q < end);
}

static void
walk_multipart(struct walk *w, const struct entity *e, const char *body,
    size_t blen, unsigned depth)
{
	const char *p = body, *end = body + blen, *part = NULL;
	const char *bd = e->boundary;
	size_t bl = bd ? strlen(bd) : 0;
	const char *child = strcmp(e->subtype, "digest") == 0 ?
	    "message/rfc822" : "text/plain";
	bool closed = false;

	if (bl == 0 || bl > 200) {	/* RFC 2046: 1 to 70; be lenient */
		w->m->flags |= MIME_F_BAD_MULTIPART;
		return;
	}
	if (depth + 1 > w->l->max_depth) {
		w->m->flags |= MIME_F_DEPTH;
		return;
	}
	while (p < end && !closed) {
		bool cl = false;
		size_t dl = delimiter_at(p, end, bd, bl, &cl);

		if (dl == 0) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			p = nl ? nl + 1 : end;
			continue;
		}
		if (part != NULL) {
			/* the line end before the delimiter belongs to it */
			const char *pe = p;
			size_t hb, hl;

			if (pe > part && pe[-1] == '\n')
				pe--;
			if (pe > part && pe[-1] == '\r')
				pe--;
			hl = mime_header_end(part, (size_t)(pe - part), &hb);
			if (hl > w->l->max_header) {
				w->m->flags |= MIME_F_HEADER_TRUNC;
				hl = w->l->max_header;
			}
			walk_entity(w, part, hl, part + hb,
			    (size_t)(pe - part) - hb, depth + 1, child);
			if (w->m->n_parts >= w->l->max_parts) {
				if (!cl)	/* more parts follow */
					w->m->flags |= MIME_F_PARTS;
				return;
			}
		}
		closed = cl;
		p += dl;
		part = p;
	}
	if (!closed) {
		w->m->flags |= MIME_F_BAD_MULTIPART;
		/* an unterminated last part is still content */
		if (part != NULL && part < end) {
			size_t hb, hl = mime_header_end(part,
			    (size_t)(end - part), &hb);

			if (hl <= w->l->max_header)
				walk_entity(w, part, hl, part + hb,
				    (size_t)(end - part) - hb, depth + 1,
				    child);
		}
	}
}

static void
walk_entity(struct walk *w, const char *h, size_t hlen, const char *body,
    size_t blen, unsigned depth, const char *dflt)
{
	struct entity e;

	if (w->m->n_parts >= w->l->max_parts) {
		w->m->flags |= MIME_F_PARTS;
		return;
	}
	w->m->n_parts++;
	if (depth > w->m->depth)
		w->m->depth = depth;
	parse_entity_header(w, &e, h, hlen, dflt);
	if (strcmp(e.type, "multipart") == 0)
		walk_multipart(w, &e, body, blen, depth);
	else if (strcmp(e.type, "text") == 0 &&
	    strcmp(e.subtype, "calendar") == 0)
		add_calendar(w, &e, body, blen);
	else if (strcmp(e.type, "text") == 0 && !e.attachment &&
	    (e.filename == NULL || e.filename[0] == '\0') &&
	    (strcmp(e.subtype, "plain") == 0 ||
	    strcmp(e.subtype, "html") == 0))
		add_text(w, e.subtype[0] == 'p' ? &w->text : &w->html, &e,
		    body, blen);
	else
		/* message/rfc822 included: a forwarded message is listed,
		 * not mixed into this message's text */
		add_attachment(w, &e, body, blen);
	entity_fini(&e);
}

static void
envelope(struct walk *w, const struct mime_field *f, size_t nf)
{
	struct mime_message *m = w->m;
	const struct mime_field *x;
	const struct mime_limits *l = w->l;
	bool bad = false;

	if ((x = mime_field_find(f, nf, "From")) != NULL)
		mime_parse_addrs(x->val, x->vlen, l->max_addrs, &m->from,
		    &m->flags);
	if ((x = mime_field_find(f, nf, "To")) != NULL)
		mime_parse_addrs(x->val, x->vlen, l->max_addrs, &m->to,
		    &m->flags);
	if ((x = mime_field_find(f, nf, "Cc")) != NULL)
		mime_parse_addrs(x->val, x->vlen, l->max_addrs, &m->cc,
		    &m->flags);
	if ((x = mime_field_find(f, nf, "Reply-To")) != NULL)
		mime_parse_addrs(x->val, x->vlen, l->max_addrs, &m->reply_to,
		    &m->flags);
	if ((x = mime_field_find(f, nf, "Subject")) != NULL)
		m->subject = mime_decode_header(x->val, x->vlen, 4096, &bad);
	if ((x = mime_field_find(f, nf, "Date")) != NULL) {
		char *u = mime_unfold(x->val, x->vlen);

		m->date_raw = mime_to_utf8(u, strlen(u), NULL, 256, NULL,
		    NULL, NULL);
		free(u);
		m->has_date = mime_parse_date(x->val, x->vlen, &m->date_utc,
		    &m->date_tz_min);
		if (!m->has_date)
			m->flags |= MIME_F_BAD_HEADER;
	}
	if ((x = mime_field_find(f, nf, "Message-ID")) != NULL) {
		size_t n = 0;
		char **ids = mime_parse_ids(x->val, x->vlen, 1, &n, &m->flags);

		if (n > 0)
			m->message_id = ids[0];
		free(ids);
	}
	if ((x = mime_field_find(f, nf, "In-Reply-To")) != NULL)
		m->in_reply_to = mime_parse_ids(x->val, x->vlen, l->max_refs,
		    &m->n_in_reply_to, &m->flags);
	if ((x = mime_field_find(f, nf, "References")) != NULL)
		m->references = mime_parse_ids(x->val, x->vlen, l->max_refs,
		    &m->n_references, &m->flags);
	m->has_list_unsubscribe = mime_field_find(f, nf, "List-Unsubscribe") !=
	    NULL;
	if ((x = mime_field_find(f, nf, "Auto-Submitted")) != NULL) {
		char *u = mime_unfold(x->val, x->vlen);

		m->auto_submitted = mime_to_utf8(u, strlen(u), NULL, 256, NULL,
		    NULL, NULL);
		for (char *c = m->auto_submitted; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		free(u);
	}
	if ((x = mime_field_find(f, nf, "Precedence")) != NULL) {
		char *u = mime_unfold(x->val, x->vlen);

		m->precedence = mime_to_utf8(u, strlen(u), NULL, 256, NULL,
		    NULL, NULL);
		for (char *c = m->precedence; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		free(u);
	}
	if (bad)
		m->flags |= MIME_F_CHARSET;
}

int
mime_parse(const char *msg, size_t len, const struct mime_limits *limits,
    struct mime_message *m, const char **errstr_r)
{
	struct mime_limits dl;
	struct walk w;
	size_t hlen, boff, nf;
	bool over = false;

	memset(m, 0, sizeof(*m));
	if (limits == NULL) {
		mime_limits_default(&dl);
		limits = &dl;
	}
	if (len == 0) {
		*errstr_r = "empty message";
		return -1;
	}
	if (len > limits->max_message) {
		*errstr_r = "message larger than the limit";
		return -1;
	}
	hlen = mime_header_end(msg, len, &boff);
	if (hlen > limits->max_header) {
		*errstr_r = "header section larger than the limit";
		return -1;
	}
	memset(&w, 0, sizeof(w));
	w.l = limits;
	w.m = m;
	w.fields = xcalloc(limits->max_header_fields ?
	    limits->max_header_fields : 1, sizeof(*w.fields));
	mbuf_init(&w.text, limits->max_body);
	mbuf_init(&w.html, limits->max_body);

	nf = mime_fields_split(msg, hlen, w.fields, limits->max_header_fields,
	    &over);
	if (over)
		m->flags |= MIME_F_HEADER_TRUNC;
	envelope(&w, w.fields, nf);
	walk_entity(&w, msg, hlen, msg + boff, len - boff, 0, "text/plain");

	if (w.text.p != NULL)
		m->text = mbuf_finish(&w.text, &m->text_len);
	if (w.html.p != NULL)
		m->html = mbuf_finish(&w.html, &m->html_len);
	mbuf_fini(&w.text);
	mbuf_fini(&w.html);
	free(w.fields);
	return 0;
}

static void
addrs_free(struct mime_addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].addr);
	}
	x_free(&l->v);
	l->n = 0;
}

static void
ids_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
mime_message_free(struct mime_message *m)
{
	addrs_free(&m->from);
	addrs_free(&m->to);
	addrs_free(&m->cc);
	addrs_free(&m->reply_to);
	free(m->subject);
	free(m->date_raw);
	free(m->message_id);
	ids_free(m->in_reply_to, m->n_in_reply_to);
	ids_free(m->references, m->n_references);
	free(m->auto_submitted);
	free(m->precedence);
	free(m->text);
	free(m->html);
	for (size_t i = 0; i < m->n_attachments; i++) {
		free(m->attachments[i].filename);
		free(m->attachments[i].content_type);
		free(m->attachments[i].content_id);
	}
	free(m->attachments);
	for (size_t i = 0; i < m->n_calendars; i++) {
		free(m->calendars[i].method);
		free(m->calendars[i].text);
	}
	free(m->calendars);
	memset(m, 0, sizeof(*m));
}

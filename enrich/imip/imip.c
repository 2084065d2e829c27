/* imip.c - see imip.h. */
#include "enrich/imip/imip.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static const char *const imip_methods[] = { "REQUEST", "REPLY", "CANCEL" };

const char *
imip_method(const char *m)
{
	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(imip_methods) / sizeof(imip_methods[0]);
	    i++)
		if (strcasecmp(m, imip_methods[i]) == 0)
			return imip_methods[i];
	return NULL;
}

static int
hash_parts(const char *const *p, const size_t *n, size_t count, char *out)
{
	static const char hex[] = "0123456789abcdef";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char d[32];
	unsigned dl = 0;
	int rc = -1;

	if (ctx == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (size_t i = 0; i < count; i++) {
		if (i > 0 && EVP_DigestUpdate(ctx, "", 1) != 1)
			goto out;
		if (EVP_DigestUpdate(ctx, p[i], n[i]) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, d, &dl) != 1 || dl != 32)
		goto out;
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[EVENT_IDKEY_LEN] = '\0';
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
imip_idkey(const char *tenant, const char *method, const char *uid,
    int sequence, const char *attendee, uint64_t fingerprint, char *out)
{
	const char *p[8];
	size_t n[8], k = 0;
	char seq[16], fp[17], who[sizeof(((struct ical_meta *)0)->attendees)];
	bool reply;

	if (tenant == NULL || *tenant == '\0' || uid == NULL ||
	    *uid == '\0' || method == NULL || *method == '\0')
		return -1;
	reply = strcmp(method, "REPLY") == 0;
	snprintf(seq, sizeof(seq), "%d", sequence);
	p[k] = "crm-idkey/1"; n[k] = strlen(p[k]); k++;
	p[k] = tenant; n[k] = strlen(tenant); k++;
	p[k] = "imip"; n[k] = 4; k++;
	p[k] = method; n[k] = strlen(method); k++;
	p[k] = uid; n[k] = strlen(uid); k++;
	p[k] = seq; n[k] = strlen(seq); k++;
	if (reply) {
		size_t i;

		for (i = 0; attendee != NULL && attendee[i] != '\0' &&
		    i < sizeof(who) - 1; i++)
			who[i] = (char)tolower((unsigned char)attendee[i]);
		who[i] = '\0';
		snprintf(fp, sizeof(fp), "%016" PRIx64, fingerprint);
		p[k] = who; n[k] = strlen(who); k++;
		p[k] = fp; n[k] = 16; k++;
	} else {
		p[k] = ""; n[k] = 0; k++;
	}
	return hash_parts(p, n, k, out);
}

static void
classify(const char *tenant, const struct mime_calendar *c,
    struct imip_part *p)
{
	const char *err = NULL;
	const char *m;

	p->text = c->text;
	p->len = c->len;
	/* RFC 6047 2.4: the method= parameter and the object's METHOD
	 * agree; mime read the parameter, else the object's line. */
	if (imip_method(c->method) == NULL) {
		p->status = IMIP_PART_IGNORED;
		p->error = c->method[0] ? "iTIP method not published" :
		    "no iTIP method";
		return;
	}
	if (ical_meta_parse(c->text, c->len, &p->meta, &err) != 0) {
		p->status = IMIP_PART_BROKEN;
		p->error = err != NULL ? err : "not iCalendar";
		return;
	}
	/* The object's own METHOD is what iTIP acts on. */
	m = p->meta.method[0] ? p->meta.method : c->method;
	if ((p->method = imip_method(m)) == NULL) {
		p->status = IMIP_PART_IGNORED;
		p->error = "iTIP method not published";
		return;
	}
	if (imip_idkey(tenant, p->method, p->meta.uid, p->meta.sequence,
	    p->meta.attendees, p->meta.fingerprint, p->idkey) != 0) {
		p->status = IMIP_PART_BROKEN;
		p->error = "no key";
		return;
	}
	p->status = IMIP_PART_OK;
}

int
imip_extract(const char *tenant, const void *msg, size_t len,
    const struct mime_limits *limits, struct imip_result *r,
    const char **errstr_r)
{
	struct mime_limits def;

	memset(r, 0, sizeof(*r));
	if (limits == NULL) {
		mime_limits_default(&def);
		limits = &def;
	}
	if (mime_parse(msg, len, limits, &r->mime, errstr_r) != 0)
		return -1;
	for (size_t i = 0; i < r->mime.n_calendars; i++) {
		const struct mime_calendar *c = &r->mime.calendars[i];
		struct imip_part *p;

		if (r->n == IMIP_PARTS_MAX) {
			r->n_ignored++;
			continue;
		}
		p = &r->parts[r->n++];
		/* A part cut at max_calendar is not the part that was sent. */
		if ((r->mime.flags & MIME_F_CAL_TRUNC) &&
		    c->len + 4 > limits->max_calendar) {
			p->text = c->text;
			p->len = c->len;
			p->status = IMIP_PART_BROKEN;
			p->error = "calendar part over the size limit";
		} else
			classify(tenant, c, p);
		switch (p->status) {
		case IMIP_PART_OK:
			r->n_ok++;
			break;
		case IMIP_PART_BROKEN:
			r->n_broken++;
			break;
		case IMIP_PART_IGNORED:
			r->n_ignored++;
			break;
		}
	}
	return 0;
}

void
imip_result_free(struct imip_result *r)
{
	mime_message_free(&r->mime);
	memset(r, 0, sizeof(*r));
}

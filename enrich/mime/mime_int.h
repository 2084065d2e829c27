/*
 * mime_int.h - internals shared by the files of enrich/mime/.
 */
#ifndef CRM_ENRICH_MIME_INT_H
#define CRM_ENRICH_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enrich/mime/mime.h"
#include "lib/utf8.h"

/* A growable byte buffer with a hard maximum (STYLE 5). */
struct mbuf {
	char *p;
	size_t len, cap, max;
	bool trunc;		/* something did not fit */
};

void mbuf_init(struct mbuf *b, size_t max);
/* Appends all of data or nothing (so UTF-8 sequences stay whole);
 * returns false and sets trunc when it would pass max. */
bool mbuf_add(struct mbuf *b, const void *data, size_t n);
bool mbuf_addc(struct mbuf *b, char c);
/* Appends code point cp as UTF-8. */
bool mbuf_add_cp(struct mbuf *b, unsigned cp);
/* NUL-terminates and hands the buffer over; *b is reset. */
char *mbuf_finish(struct mbuf *b, size_t *len_r);
void mbuf_fini(struct mbuf *b);

/* ASCII case-insensitive compare of a counted string with a C string. */
bool mime_ieq(const char *a, size_t alen, const char *b);
char *mime_lower_dup(const char *s);

/* RFC 2231 assembled value of parameter `name` among n (attr, value)
 * pairs: continuations name*0, name*1*, charset'lang'%XX.  Falls back to
 * the plain name=.  Returns a new UTF-8 string or NULL. */
char *mime_param_2231(const char *const *attrs, const char *const *vals,
    size_t n, const char *name, size_t max, bool *bad_r);

/* One header field; name and val point into the caller's buffer, val
 * raw (still folded). */
struct mime_field {
	const char *name;
	size_t nlen;
	const char *val;
	size_t vlen;
};

/* Splits msg into header section and body: returns the header length;
 * *body_off_r is where the body starts (len if there is none). */
size_t mime_header_end(const char *p, size_t len, size_t *body_off_r);
/* Splits a header section into at most maxf fields (*over_r set if there
 * were more).  Lines without a colon are skipped. */
size_t mime_fields_split(const char *h, size_t hlen, struct mime_field *f,
    size_t maxf, bool *over_r);
/* First field named name, or NULL. */
const struct mime_field *mime_field_find(const struct mime_field *f,
    size_t n, const char *name);
/* Unfolded copy of a value: CR/LF dropped, tabs to spaces, trimmed. */
char *mime_unfold(const char *v, size_t vlen);

void mime_parse_addrs(const char *v, size_t vlen, unsigned max,
    struct mime_addr_list *out, unsigned *flags);
bool mime_parse_date(const char *v, size_t vlen, int64_t *utc_r,
    int *tz_min_r);
/* Message ids without <>; *n_r set; NULL if none. */
char **mime_parse_ids(const char *v, size_t vlen, unsigned max, size_t *n_r,
    unsigned *flags);

#endif

/*
 * scrub_int.h - internals shared by the files of enrich/scrub/.
 */
#ifndef CRM_ENRICH_SCRUB_INT_H
#define CRM_ENRICH_SCRUB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "enrich/scrub/scrub.h"

#define SIG_MAX_LINES 10	/* non-empty lines after a sign-off */
#define SIG_MAX_LEN 100		/* bytes in one signature line */
#define NORM_MAX 512

struct line {
	const char *p;		/* the raw line, CR removed from len */
	size_t n;
	unsigned depth;		/* '>' quote depth */
	char *norm;		/* '>' , '*' and white space trimmed, lower */
	bool blank;
	enum scrub_kind kind;
};

struct ctx {
	struct line *L;
	size_t n;
	struct scrub_result *r;
	size_t sig_from, sig_to;	/* the signature block for fields */
	bool cut;			/* quoted from a header to the end */
};

/* lex.c: on normalised (lower-case, NUL-terminated) lines */
bool lex_starts(const char *s, const char *pre);
bool lex_ends(const char *s, const char *suf);
bool lex_any_starts(const char *s, const char *const *v);
bool lex_any_contains(const char *s, const char *const *v);
/* "Sent from my iPhone", "Von meinem iPhone gesendet", ... */
bool lex_is_mobile(const char *s);
/* "Best regards,", "Thanks, Jane", "Merci et bonne journée," */
bool lex_is_signoff(const struct line *l);
/* 1 to max_words capitalised words: p[0..n), raw text */
bool lex_looks_like_name(const char *p, size_t n, unsigned max_words);
/* how many legal-notice words s contains */
unsigned lex_disclaimer_hits(const char *s);
/* seven to fifteen digits among "+0-9 ()./-" in s[0..n) */
const char *lex_find_phone(const char *s, size_t n, size_t *len_r);

/* scrub_sig.c: fills c->r->sig from lines [c->sig_from, c->sig_to) */
void scrub_sig_fields(struct ctx *c);

#endif

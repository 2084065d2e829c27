/*
 * imap_fuzz_drive.h - shared driver for the IMAP parser fuzz targets.
 *
 * imap_fuzz_run() feeds a stream to a parser in chunks chosen by a seed
 * (0: whole, 1: one byte at a time, else pseudo-random sizes), checks the
 * parser's invariants after every call and folds every event into a hash,
 * so two runs over different splits can be compared.  Random splits also
 * skip some literal data unseen (imap_parser_skip_literal()), as the relay
 * does when it splices, which must not change the hash either.  A hint callback lets
 * the client target answer literals, IDLE and AUTHENTICATE the way a
 * server would; its decisions depend only on the event count, never on the
 * split.
 */
#ifndef CRM_IMAP_FUZZ_DRIVE_H
#define CRM_IMAP_FUZZ_DRIVE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/imap_parse.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

typedef void imap_fuzz_hint_fn(struct imap_parser *p, uint32_t event,
    uint8_t control);

struct imap_fuzz_result {
	uint64_t hash;
	uint32_t events;
	enum imap_client_mode mode;
	bool blind;
	uint64_t literal_left;
};

static inline uint64_t
fuzz_hash(uint64_t h, const void *data, size_t len)
{
	const unsigned char *d = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ d[i]) * 0x100000001b3ull;	/* FNV-1a */
	return h;
}

static inline uint64_t
fuzz_hash_str(uint64_t h, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	FUZZ_CHECK(n <= max);
	return fuzz_hash(h, s, n + 1);
}

static inline uint64_t
imap_fuzz_hash_line(uint64_t h, const struct imap_parser *p)
{
	const struct imap_line *l = &p->line;

	FUZZ_CHECK(l->arg1_len <= IMAP_ARG1_MAX);
	FUZZ_CHECK(l->arg1[l->arg1_len] == '\0');
	FUZZ_CHECK(!l->tag_too_long || l->tag[0] == '\0');
	h = fuzz_hash(h, &l->kind, sizeof(l->kind));
	h = fuzz_hash_str(h, l->tag, IMAP_TAG_MAX);
	h = fuzz_hash_str(h, l->name, IMAP_NAME_MAX);
	h = fuzz_hash_str(h, l->code, IMAP_NAME_MAX);
	h = fuzz_hash(h, l->arg1, l->arg1_len);
	h = fuzz_hash(h, &l->number, sizeof(l->number));
	h = fuzz_hash(h, &l->literals, sizeof(l->literals));
	h = fuzz_hash_str(h, l->fetch.flags, IMAP_FLAGS_MAX);
	h = fuzz_hash_str(h, l->fetch.internaldate, IMAP_DATE_MAX);
	h = fuzz_hash(h, &l->fetch.uid, sizeof(l->fetch.uid));
	h = fuzz_hash(h, &l->fetch.rfc822_size, sizeof(l->fetch.rfc822_size));
	h ^= (uint64_t)l->has_number << 1 | (uint64_t)l->has_arg1 << 2 |
	    (uint64_t)l->arg1_truncated << 3 | (uint64_t)l->fetch.has_uid << 4 |
	    (uint64_t)l->fetch.has_flags << 5 |
	    (uint64_t)l->fetch.has_internaldate << 6 |
	    (uint64_t)l->fetch.has_size << 7;
	return h;
}

static inline uint32_t
fuzz_rng(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static inline void
imap_fuzz_run(enum imap_dir dir, size_t line_max, const uint8_t *data,
    size_t size, uint32_t split, uint8_t control, imap_fuzz_hint_fn *hint,
    struct imap_fuzz_result *res)
{
	struct imap_parser p;
	uint32_t rng = split | 0x80000000u;
	size_t off = 0;

	memset(res, 0, sizeof(*res));
	res->hash = 0xcbf29ce484222325ull;
	imap_parser_init(&p, dir, line_max);
	while (off < size) {
		size_t n = size - off;

		if (split == 1)
			n = 1;
		else if (split != 0)
			n = 1 + fuzz_rng(&rng) % 64;
		if (n > size - off)
			n = size - off;
		while (n > 0) {
			uint64_t left = imap_parser_literal_left(&p);
			bool in_lit = imap_parser_in_literal(&p);
			size_t used = (size_t)-1;
			const char *err = NULL;
			enum imap_parse_result r;

			/* random splits also skip literal data unseen, as the
			 * relay's splice path does: nothing may change */
			if (split > 1 && imap_parser_literal_opaque(&p) &&
			    (fuzz_rng(&rng) & 1) != 0) {
				used = n < left ? n : (size_t)left;
				FUZZ_CHECK(imap_parser_skip_literal(&p, used));
				FUZZ_CHECK(imap_parser_literal_left(&p) ==
				    left - used);
				off += used;
				n -= used;
				continue;
			}
			FUZZ_CHECK(!imap_parser_skip_literal(&p, left + 1));
			r = imap_parser_feed(&p, data + off, n, &used, &err);
			FUZZ_CHECK(used <= n && used > 0);
			/* literal data first: never more than was left */
			if (in_lit && r != IMAP_PARSE_LITERAL &&
			    r != IMAP_PARSE_ERROR && r != IMAP_PARSE_BLIND) {
				uint64_t data_part = used < left ? used : left;

				FUZZ_CHECK(imap_parser_literal_left(&p) ==
				    left - data_part ||
				    imap_parser_literal_left(&p) == 0);
			}
			switch (r) {
			case IMAP_PARSE_AGAIN:
			case IMAP_PARSE_BLIND:
				FUZZ_CHECK(used == n);
				FUZZ_CHECK((r == IMAP_PARSE_BLIND) ==
				    (imap_parser_blind(&p) && err == NULL));
				break;
			case IMAP_PARSE_LITERAL:
				FUZZ_CHECK(imap_parser_literal_size(&p) <=
				    IMAP_LITERAL_MAX);
				FUZZ_CHECK(strlen(imap_parser_literal_section(
				    &p)) <= IMAP_SECTION_MAX);
				FUZZ_CHECK(imap_parser_literal_left(&p) <=
				    imap_parser_literal_size(&p));
				res->hash = fuzz_hash(res->hash, "L", 1);
				res->hash = fuzz_hash(res->hash,
				    &p.literal_size, sizeof(p.literal_size));
				res->hash = fuzz_hash_str(res->hash,
				    imap_parser_literal_section(&p),
				    IMAP_SECTION_MAX);
				res->hash = imap_fuzz_hash_line(res->hash, &p);
				if (hint != NULL)
					hint(&p, res->events, control);
				res->events++;
				break;
			case IMAP_PARSE_LINE:
				FUZZ_CHECK(!imap_parser_in_literal(&p));
				res->hash = fuzz_hash(res->hash, "N", 1);
				res->hash = imap_fuzz_hash_line(res->hash, &p);
				if (hint != NULL)
					hint(&p, res->events, control);
				res->events++;
				break;
			case IMAP_PARSE_ERROR:
				FUZZ_CHECK(err != NULL &&
				    imap_parser_blind(&p));
				res->hash = fuzz_hash_str(res->hash, err, 200);
				res->events++;
				break;
			}
			FUZZ_CHECK(imap_client_mode_name(imap_parser_mode(&p))
			    [0] != '?');
			FUZZ_CHECK(imap_parser_state_name(&p)[0] != '?');
			off += used;
			n -= used;
		}
	}
	res->mode = imap_parser_mode(&p);
	res->blind = imap_parser_blind(&p);
	res->literal_left = imap_parser_literal_left(&p);
}

static inline void
imap_fuzz_compare(const struct imap_fuzz_result *a,
    const struct imap_fuzz_result *b)
{
	FUZZ_CHECK(a->hash == b->hash);
	FUZZ_CHECK(a->events == b->events);
	FUZZ_CHECK(a->mode == b->mode);
	FUZZ_CHECK(a->blind == b->blind);
	FUZZ_CHECK(a->literal_left == b->literal_left);
}

#endif

/*
 * embed_int.h - internals shared by the embed files: the tokenizer object
 * (wordpiece.c runs it, wordpiece_vocab.c loads it) and bounded file reads.
 * Not a public header.
 */
#ifndef CRM_EMBED_INT_H
#define CRM_EMBED_INT_H

#include "enrich/embed/embed.h"

#define WP_ADDED_MAX	64
#define WP_PREFIX_MAX	8

struct wp_added {
	char *text;
	size_t len;
	int32_t id;
};

struct embed_wordpiece {
	struct embed_wordpiece_config cfg;
	/* Token text by id: arena + offsets; len 0 marks an unused id. */
	char *arena;
	uint32_t *off;
	uint16_t *len;
	size_t n;
	/* Open addressing, power-of-two size, -1 empty. */
	int32_t *slots;
	size_t mask;
	struct wp_added added[WP_ADDED_MAX];
	size_t n_added;
	bool added_first[256];
	int32_t cls, sep, unk;
	char prefix[WP_PREFIX_MAX];
	size_t prefix_len;
};

/*
 * Reads a whole regular file of at most MAX bytes into a malloc'd buffer,
 * NUL-terminated (the NUL is not counted in *len_r).  Returns 0 or -1.
 */
int embed_file_read(const char *path, size_t max, char **buf_r,
    size_t *len_r);
/* embed_file_read() of DIR/NAME. */
int embed_file_read_in(const char *dir, const char *name, size_t max,
    char **buf_r, size_t *len_r);

#endif

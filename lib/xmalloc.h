/*
 * xmalloc.h - allocation that never returns NULL.
 *
 * Allocation failure aborts the process (STYLE 8): a daemon that cannot get
 * a few hundred bytes is better restarted by its parent than left to limp
 * through error paths nobody tests.  Sizes are overflow-checked.
 */
#ifndef CRM_XMALLOC_H
#define CRM_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Like asprintf(3); aborts on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Frees *pp and sets it to NULL (STYLE 7). */
#define x_free(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

/* Wipes a secret before freeing it; the compiler may not elide this. */
void x_free_secret(char **pp);

#endif

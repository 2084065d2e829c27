/*
 * tap_policy.h - the edge policy: which tapped messages may be stored.
 *
 * The tap buffers a message's header section (bounded), asks this module
 * for a verdict, and only then writes anything to the spool.  A dropped
 * message never reaches the spool or Kafka; a header-only one is stored
 * without its body.  Pure code over caller buffers: no I/O, no logging, no
 * allocation after the lists are built, so it links into unit tests and
 * fuzz targets alone (STYLE 14).
 *
 * Patterns are matched case-insensitively; '*' matches any run of bytes
 * (also empty), '?' one byte.  A domain pattern without a wildcard also
 * matches its subdomains ("example.com" matches "eu.example.com").
 */
#ifndef CRM_TAP_POLICY_H
#define CRM_TAP_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#define TAP_POLICY_LIST_MAX 1024	/* entries per list */
#define TAP_POLICY_ITEM_MAX 254		/* bytes per entry (an address) */
#define TAP_POLICY_ADDRS_MAX 256	/* addresses examined per message */
#define TAP_POLICY_DETAIL_MAX 128

/* A list of lower-cased words, owned by the list. */
struct tap_list {
	char **v;
	size_t n;
};

struct tap_policy {
	struct tap_list domains;	/* the tenant's own domains */
	struct tap_list block_addresses;
	struct tap_list block_domains;
	struct tap_list freemail;	/* empty: the built-in list */
	struct tap_list folders;	/* opt-in; empty: every folder */
	bool skip_freemail;
	bool skip_internal;
	bool header_only;
};

enum tap_verdict {
	TAP_VERDICT_CAPTURE,
	TAP_VERDICT_HEADERS_ONLY,
	TAP_VERDICT_DROP,
};

/* Why: a static reason token ("blocked-address", "blocked-domain",
 * "freemail", "internal-only", "folder-not-opted-in", "header-only") and
 * the pattern or folder that decided, never an address from the mail. */
struct tap_decision {
	enum tap_verdict verdict;
	const char *reason;
	char detail[TAP_POLICY_DETAIL_MAX];
};

/*
 * Parses a whitespace- or comma-separated list into l (appending; entries
 * lower-cased).  Returns 0, or -1 with *errstr_r (static) when an entry is
 * longer than TAP_POLICY_ITEM_MAX or the list would pass
 * TAP_POLICY_LIST_MAX entries.
 */
int tap_list_parse(struct tap_list *l, const char *value,
    const char **errstr_r);
void tap_list_free(struct tap_list *l);

/* Frees every list in p (p itself is the caller's). */
void tap_policy_fini(struct tap_policy *p);

/* Case-insensitive glob: '*' any run, '?' one byte. */
bool tap_glob_match(const char *pattern, const char *s);

/* The folder test alone: true when p opts every folder in, or mailbox
 * (NULL: unknown) matches one of p->folders. */
bool tap_policy_folder_ok(const struct tap_policy *p, const char *mailbox);

/*
 * Decides for one message.  hdr..len is the start of the message, at least
 * its header section when it was shorter than the tap's bound (fields cut
 * off by the bound are judged on what is there).  Address fields read:
 * From, Sender, Reply-To, To, Cc, Bcc (folded lines followed, quoted
 * strings and comments skipped).  Fills *d; returns d->verdict.
 * p == NULL captures everything.
 */
enum tap_verdict tap_policy_decide(const struct tap_policy *p,
    const char *mailbox, const void *hdr, size_t len,
    struct tap_decision *d);

/*
 * The addresses tap_policy_decide() examines, lower-cased, for tests:
 * writes up to max NUL-terminated strings of TAP_POLICY_ITEM_MAX + 1 bytes
 * into out; returns how many.
 */
size_t tap_policy_addresses(const void *hdr, size_t len,
    char (*out)[TAP_POLICY_ITEM_MAX + 1], size_t max);

#endif

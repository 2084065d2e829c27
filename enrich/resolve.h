/*
 * resolve.h - what an e-mail address is to a tenant: one of its own
 * people, a company's, a free-mail user's, or a machine's.
 *
 * resolve_party() is the one function crm-enrich calls to turn an address
 * into an account key.  It is built on enrich/ident: canonical address
 * keys, the registrable domain from the Public Suffix List file, the
 * free-mail list, automated local parts and the tenant's own domains.
 */
#ifndef CRM_ENRICH_RESOLVE_H
#define CRM_ENRICH_RESOLVE_H

#include <stddef.h>

enum resolve_kind {
	RESOLVE_COMPANY,	/* account = registrable domain */
	RESOLVE_INTERNAL,	/* the tenant's own domain: no account */
	RESOLVE_FREEMAIL,	/* gmail.com and friends: a person, no account */
	RESOLVE_NOREPLY,	/* no-reply@, mailer-daemon@: no contact */
	RESOLVE_INVALID,
};

struct resolve_rules;

/*
 * Loads the Public Suffix List (psl_path; NULL: IDENT_PSL_DEFAULT) and the
 * free-mail list (freemail_path; NULL: the installed copy, else the one
 * next to the source tree).  Returns the rules or NULL with a static
 * reason in *errstr_r.
 */
struct resolve_rules *resolve_rules_load(const char *psl_path,
    const char *freemail_path, const char **errstr_r);
void resolve_rules_free(struct resolve_rules **rp);

/*
 * address: any addr-spec (canonicalized here).  tenant_domains (n of
 * them) are the tenant's own domains.  On RESOLVE_COMPANY writes the
 * account's registrable domain ("mail.acme.co.uk" -> "acme.co.uk") into
 * account_domain (size bytes).  Never fails on odd input
 * (RESOLVE_INVALID).  An automated local part wins over every other kind.
 */
enum resolve_kind resolve_party(const struct resolve_rules *rules,
    const char *address, const char *const *tenant_domains, size_t n,
    char *account_domain, size_t size);

#endif

/*
 * resolve.h - which account an e-mail address belongs to.
 *
 * resolve_party() is the one function crm-enrich (and crm-admin) call to
 * turn an address into an account key; a fuller resolver (aliases, the
 * tenant's own mapping rules) replaces its body without changing callers.
 */
#ifndef CRM_ENRICH_RESOLVE_H
#define CRM_ENRICH_RESOLVE_H

#include <stddef.h>

enum resolve_kind {
	RESOLVE_COMPANY,	/* account = registrable domain */
	RESOLVE_FREEMAIL,	/* gmail.com and friends: a person, no account */
	RESOLVE_NOREPLY,	/* no-reply@, mailer-daemon@: a robot */
	RESOLVE_INVALID,
};

/*
 * address: lower-cased addr-spec.  On RESOLVE_COMPANY writes the account's
 * registrable domain (Public Suffix List, e.g. "mail.acme.co.uk" ->
 * "acme.co.uk") into account_domain (size bytes).  Pure function of its
 * input; never fails on odd input (RESOLVE_INVALID).
 */
enum resolve_kind resolve_party(const char *address, char *account_domain,
    size_t size);

#endif

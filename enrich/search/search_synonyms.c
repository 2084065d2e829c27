/*
 * search_synonyms.c - sales-domain query expansion for full-text search.
 *
 * A manager asks about "pricing"; the customer wrote "the quote is too
 * steep".  Each group below lists words that sales mail uses for one
 * thing.  A query word that belongs to a group (compared after a crude
 * suffix strip, so "cancelling" finds "cancel") brings in the rest of the
 * group as extra "or" terms.  PostgreSQL then stems every term with the
 * english configuration, as it does for the stored column.
 *
 * The vocabulary is general sales language, not the wording of any
 * labelled query or email.  Members joined by '_' are phrases, passed to
 * websearch_to_tsquery in double quotes.  A word may sit in more than one
 * group.  No library dependencies.
 */
#include "enrich/search/search.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

static const char *const groups[] = {
	/* price objections, cost, discounts */
	"price pricing cost costs expensive pricey overpriced steep budget "
	    "discount discounts afford affordable cheaper cheap quote fee "
	    "fees spend rate rates per_seat markup margin value",
	/* money on hold, budget cycles */
	"freeze frozen hold paused pause postpone postponed defer delay "
	    "delayed cut cuts cutback spending_freeze hiring_freeze "
	    "reprioritize deprioritized shelved",
	/* billing */
	"invoice invoices invoiced billing bill billed payment paid pay "
	    "overdue late_payment refund credit receipt charge charged "
	    "remittance",
	/* legal and paperwork */
	"legal contract contracts redline redlines msa agreement terms "
	    "clause clauses counsel lawyer lawyers attorney liability "
	    "indemnity indemnification dpa nda signature sign signed "
	    "order_form",
	/* churn risk */
	"churn cancel cancellation terminate termination leave leaving "
	    "switch switching replace replacing exit unhappy dissatisfied "
	    "downgrade non-renewal consolidate consolidation sunset",
	/* renewals */
	"renew renewal renewals renewing extend extension term auto-renew "
	    "expire expiry expiration anniversary",
	/* security review */
	"security secure soc soc_2 pen_test penetration questionnaire "
	    "compliance audit auditor gdpr hipaa iso encryption sso saml "
	    "vulnerability infosec privacy breach",
	/* people leaving: champion, sponsor, contact */
	"champion sponsor quit quitting resign resigned "
	    "resignation departure departing last_day moving_on "
	    "new_role new_job successor replacement handover",
	/* competition */
	"competitor competitors competitive rival rivals alternative "
	    "alternatives vendor vendors bid bids comparison compare "
	    "evaluate evaluation benchmark bake-off shortlist incumbent",
	/* praise */
	"happy pleased delighted thrilled love loved praise "
	    "compliment compliments kudos impressed grateful "
	    "appreciate excellent fantastic",
	/* product problems and support */
	"bug bugs outage broken issue issues problem problems error "
	    "errors crash crashes slow downtime ticket escalate escalation "
	    "incident failure failing frustrated",
	/* meetings */
	"meeting meetings call demo schedule reschedule calendar invite "
	    "availability slot",
	/* procurement */
	"procurement purchasing requisition purchase_order po supplier "
	    "onboarding approval approve approved sign-off vendor_form",
	/* growth */
	"expand expansion upsell upgrade seats licenses licences users "
	    "rollout grow growth add-on additional",
	/* getting live */
	"onboarding implementation rollout training kickoff go-live "
	    "launch migration setup deploy deployment integration",
	/* who decides */
	"cfo ceo cto coo vp executive exec boss leadership board "
	    "director management decision-maker",
	/* deals gone quiet */
	"stalled stall silent silence ghosted unresponsive no_response "
	    "quiet stuck",
	/* connecting to other systems */
	"integration integrations integrate connect connector connectors "
	    "api apis endpoint endpoints webhook webhooks sync import export "
	    "erp crm plugin interface",
	/* where data lives and who sees it */
	"privacy gdpr residency hosted hosting region data_center "
	    "subprocessor subprocessors dpa retention deletion "
	    "personal_data",
	/* asks for the product to do more */
	"feature features roadmap functionality capability capabilities "
	    "enhancement wishlist feature_request",
	/* seeing the customer in person */
	"visit visiting onsite on-site in_person trip travel fly flying "
	    "stop_by",
	/* service unavailable */
	"outage down downtime unavailable unreachable offline degraded "
	    "disruption",
	/* moving a meeting */
	"reschedule move moved postpone push rebook shift",
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

#define WORD_MAX 64

/*
 * A crude English suffix strip, applied the same way to query words and
 * group members: enough to let "cancelling", "cancelled" and "cancels"
 * meet "cancel".  Lowercases into OUT (WORD_MAX bytes).
 */
static void
crude_stem(const char *w, size_t n, char *out)
{
	size_t len = 0;

	for (size_t i = 0; i < n && len < WORD_MAX - 1; i++)
		out[len++] = (char)tolower((unsigned char)w[i]);
	out[len] = '\0';
	if (len > 4 && strcmp(out + len - 3, "ies") == 0) {
		len -= 3;
		out[len++] = 'y';
	} else if (len > 5 && strcmp(out + len - 3, "ing") == 0)
		len -= 3;
	else if (len > 4 && strcmp(out + len - 2, "ed") == 0)
		len -= 2;
	else if (len > 3 && out[len - 1] == 's' && out[len - 2] != 's')
		len--;
	if (len > 3 && out[len - 1] == out[len - 2] &&
	    strchr("aeiou", out[len - 1]) == NULL)
		len--;		/* cancell -> cancel */
	if (len > 3 && out[len - 1] == 'e')
		len--;		/* price -> pric, pricing -> pric */
	out[len] = '\0';
}

/* Does group G hold a member whose stem is STEM (single words only)? */
static bool
group_has(const char *g, const char *stem)
{
	char s[WORD_MAX];

	while (*g != '\0') {
		size_t n = strcspn(g, " ");

		if (memchr(g, '_', n) == NULL) {
			crude_stem(g, n, s);
			if (strcmp(s, stem) == 0)
				return true;
		}
		g += n;
		g += strspn(g, " ");
	}
	return false;
}

static bool
is_word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/*
 * Appends TERM if it fits: with " or " between terms and a phrase in
 * quotes (TSQUERY), or with ", " between terms (plain text).  Returns
 * false if it does not fit.
 */
static bool
append_term(char *out, size_t *o, const char *t, size_t n, bool tsquery)
{
	bool phrase = tsquery && (memchr(t, '_', n) != NULL ||
	    memchr(t, '-', n) != NULL);
	const char *sep = tsquery ? " or " : ", ";
	size_t sl = strlen(sep);
	size_t need = n + (*o > 0 ? sl : 0) + (phrase ? 2 : 0);

	if (*o + need > SEARCH_QUERY_MAX)
		return false;
	if (*o > 0) {
		memcpy(out + *o, sep, sl);
		*o += sl;
	}
	if (phrase)
		out[(*o)++] = '"';
	for (size_t i = 0; i < n; i++)
		out[(*o)++] = t[i] == '_' || (tsquery && t[i] == '-') ? ' ' :
		    t[i];
	if (phrase)
		out[(*o)++] = '"';
	out[*o] = '\0';
	return true;
}

static char *expand(const char *query, const char *base, bool tsquery);

char *
search_fts_expand(const char *query)
{
	char *base = search_fts_any(query), *out;

	out = expand(query, base, true);
	free(base);
	return out;
}

char *
search_synonyms(const char *query)
{
	return expand(query, "", false);
}

static char *
expand(const char *query, const char *base, bool tsquery)
{
	char *out = xmalloc(SEARCH_QUERY_MAX + 1);
	bool used[NGROUPS] = { false };
	size_t o = strlen(base);
	const char *p = query;
	char stem[WORD_MAX];
	bool full = false;

	memcpy(out, base, o + 1);
	while (*p != '\0' && !full) {
		size_t n;

		while (*p != '\0' && !is_word_byte((unsigned char)*p))
			p++;
		for (n = 0; is_word_byte((unsigned char)p[n]); n++)
			;
		if (n == 0)
			break;
		if (n < WORD_MAX) {
			crude_stem(p, n, stem);
			for (size_t g = 0; g < NGROUPS && !full; g++) {
				const char *m = groups[g];

				if (used[g] || !group_has(m, stem))
					continue;
				used[g] = true;
				while (*m != '\0' && !full) {
					size_t mn = strcspn(m, " ");
					char ms[WORD_MAX];

					crude_stem(m, mn, ms);
					if (strcmp(ms, stem) != 0)
						full = !append_term(out, &o,
						    m, mn, tsquery);
					m += mn;
					m += strspn(m, " ");
				}
			}
		}
		p += n;
	}
	return out;
}

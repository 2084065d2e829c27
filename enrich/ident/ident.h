/*
 * ident.h - identity resolution helpers for crm-enrich (libident).
 *
 * Pure functions that turn what a message says about people into stable
 * keys: canonical addresses, display names, registrable domains, free-mail
 * and automated-sender verdicts, internal/external, thread keys and phone
 * numbers.  Nothing here logs, exits, touches the network or keeps global
 * state; the only files read are the ones a caller names (the Public Suffix
 * List, the free-mail list).  Every input is (ptr, len) and may contain any
 * bytes, NULs included; every output has a fixed maximum given below.
 * The rules themselves are written down in docs/enrich.md, "Identity
 * resolution and calendar rules".
 *
 * Thread safety: functions taking const objects may run concurrently on
 * the same object; loaders and _free are not concurrent with anything else
 * on the same object.
 */
#ifndef CRM_IDENT_H
#define CRM_IDENT_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1: 64-octet local part, 255-octet domain; a DNS name
 * has at most 253 characters in text form. */
#define IDENT_LOCAL_MAX		64
#define IDENT_DOMAIN_MAX	253
#define IDENT_ADDR_MAX		(IDENT_LOCAL_MAX + 1 + IDENT_DOMAIN_MAX)
/* Longest display name kept, in bytes (cut on a UTF-8 boundary). */
#define IDENT_NAME_MAX		200
/* Longest header value the mailbox-list parser looks at. */
#define IDENT_HEADER_MAX	65536

/* ---- addresses ---------------------------------------------------------- */

/* Which provider rules made the canonical form (bits of ident_addr.rules). */
#define IDENT_RULE_CASE_FOLDED	0x01	/* local part lower-cased */
#define IDENT_RULE_PLUS_TAG	0x02	/* "+tag" removed */
#define IDENT_RULE_DOTS		0x04	/* dots removed from the local part */
#define IDENT_RULE_DOMAIN_ALIAS	0x08	/* domain replaced (googlemail.com) */
#define IDENT_RULE_IDN		0x10	/* domain had U-labels, now A-labels */

/* Flags for ident_addr_parse(). */
#define IDENT_ADDR_KEEP_CASE	0x01	/* keep local-part case on domains
					 * not in the provider table */

struct ident_addr {
	char local[IDENT_LOCAL_MAX + 1];	/* canonical local part */
	char domain[IDENT_DOMAIN_MAX + 1];	/* canonical, A-labels, lower */
	char addr[IDENT_ADDR_MAX + 1];		/* local "@" domain: the key */
	unsigned rules;				/* IDENT_RULE_* applied */
};

/*
 * Parses one addr-spec ("local@domain", optionally inside <> and
 * surrounded by white space; a quoted local part is unquoted when the
 * result is a plain dot-atom) and fills *r with its canonical form:
 * domain lower-cased, trailing dot dropped, U-labels converted to
 * A-labels (punycode, IDNA2008 with UTS 46 mapping); local part case-folded
 * (ASCII) unless IDENT_ADDR_KEEP_CASE and the domain is unknown; "+tag"
 * removed; dots removed and the domain replaced only for the providers in
 * the built-in table (gmail.com, googlemail.com).  Non-ASCII local parts
 * (SMTPUTF8) are kept byte for byte when they are valid UTF-8.
 * Returns 0, or -1 with *errstr_r set to a static reason (r is then
 * zeroed).  Never reads past in[len].
 */
int ident_addr_parse(const char *in, size_t len, unsigned flags,
    struct ident_addr *r, const char **errstr_r);

/*
 * Canonical form of a bare domain name (the domain half of the rules
 * above, without provider aliases).  out must hold IDENT_DOMAIN_MAX + 1
 * bytes.  Returns 0, or -1 with *errstr_r set.
 */
int ident_domain_normalize(const char *in, size_t len, char *out,
    size_t outsz, const char **errstr_r);

/*
 * Cleans a display name that MIME decoding has already turned into UTF-8:
 * quotes and backslash escapes removed, white space collapsed, control
 * characters and invalid UTF-8 dropped, "Last, First" turned into
 * "First Last" (not when the part after the comma is a suffix such as
 * "Jr." or "PhD"), " via Service" / "(via Service)" suffixes and
 * trailing "(...)" / "[...]" comments and leading "[EXT]" style tags
 * removed.  A name that is itself an address (or equals addr, when addr
 * is not NULL) becomes empty.  out (outsz >= 1) is always NUL-terminated;
 * at most IDENT_NAME_MAX bytes are kept.  Returns the length written.
 */
size_t ident_name_clean(const char *in, size_t len, const char *addr,
    char *out, size_t outsz);

struct ident_mailbox {
	char name[IDENT_NAME_MAX + 1];	/* cleaned display name, may be "" */
	struct ident_addr addr;
};

/*
 * Parses an RFC 5322 address-list header value (From, To, Cc, Reply-To;
 * unfolded or not) into at most max mailboxes: "Name <a@b>", "a@b",
 * "a@b (Name)", quoted names with commas, groups ("team: a@b, c@d;").
 * Mailboxes whose address does not parse are skipped and counted in
 * *skipped_r (may be NULL); mailboxes past max are counted there too.
 * Input longer than IDENT_HEADER_MAX is refused.  Returns the number
 * stored (0..max), or -1 with *errstr_r set when the value is refused
 * outright.
 */
int ident_mailbox_list_parse(const char *in, size_t len,
    struct ident_mailbox *out, size_t max, size_t *skipped_r,
    const char **errstr_r);

/* ---- domains: Public Suffix List, free-mail list, tenant domains ------- */

/* The PSL file Debian's `publicsuffix` package installs (see
 * packaging/deps.sh for the pinned version). */
#define IDENT_PSL_DEFAULT "/usr/share/publicsuffix/public_suffix_list.dat"

struct ident_psl;

/*
 * Loads a Public Suffix List in its text format (ICANN and private
 * sections both apply, so "foo.github.io" is registrable) from path.  The
 * library's built-in snapshot is never used, so results depend only on
 * the file.  Returns a handle to free with ident_psl_free(), or NULL with
 * *errstr_r set.
 */
struct ident_psl *ident_psl_load(const char *path, const char **errstr_r);
void ident_psl_free(struct ident_psl **pslp);

/*
 * Registrable domain (public suffix + one label) of a canonical domain
 * (ident_domain_normalize() form): "mail.bbc.co.uk" -> "bbc.co.uk".
 * Returns 0 with out (IDENT_DOMAIN_MAX + 1 bytes) filled, or -1 when the
 * domain is itself a public suffix, not canonical, or an address literal.
 */
int ident_psl_registrable(const struct ident_psl *psl, const char *domain,
    char *out, size_t outsz);

/* True when the canonical domain is a public suffix ("co.uk", "github.io"). */
bool ident_psl_is_suffix(const struct ident_psl *psl, const char *domain);

#define IDENT_DOMSET_MAX_ENTRIES	100000
#define IDENT_DOMSET_MAX_BYTES		(4u << 20)

struct ident_domset;

/*
 * A set of domains read from a text file: one domain per line, '#'
 * starts a comment, blank lines ignored, each entry canonicalized like
 * ident_domain_normalize().  A file over IDENT_DOMSET_MAX_BYTES or with
 * more than IDENT_DOMSET_MAX_ENTRIES entries, or with an entry that is
 * not a domain, is refused; *errline_r (may be NULL) then holds the
 * 1-based line (0 when not about a line).  Returns the set or NULL with
 * *errstr_r set.
 */
struct ident_domset *ident_domset_load(const char *path, size_t *errline_r,
    const char **errstr_r);
/* The same from memory (buf need not be NUL-terminated). */
struct ident_domset *ident_domset_parse(const char *buf, size_t len,
    size_t *errline_r, const char **errstr_r);
void ident_domset_free(struct ident_domset **setp);
size_t ident_domset_count(const struct ident_domset *set);

/*
 * True when the canonical domain is in the set or is a subdomain of an
 * entry (label boundary: "mail.yahoo.co.jp" matches "yahoo.co.jp";
 * "notyahoo.co.jp" does not).
 */
bool ident_domset_match(const struct ident_domset *set, const char *domain);

/* The free-mail list shipped with the project (installed copy first). */
#define IDENT_FREEMAIL_FILE "enrich/ident/freemail.txt"

/*
 * True when the canonical domain equals one of the tenant's own domains or
 * is a subdomain of one.  tenant_domains are compared after
 * ident_domain_normalize(); entries that do not normalize are ignored.
 */
bool ident_domain_is_internal(const char *domain,
    const char *const *tenant_domains, size_t n);

/* ---- automated senders -------------------------------------------------- */

#define IDENT_AUTO_LOCALPART	0x001	/* noreply@, mailer-daemon@, ... */
#define IDENT_AUTO_SUBMITTED	0x002	/* Auto-Submitted: other than "no" */
#define IDENT_AUTO_PRECEDENCE	0x004	/* Precedence: bulk / list / junk */
#define IDENT_AUTO_LIST		0x008	/* List-Id or List-Unsubscribe */
#define IDENT_AUTO_SUPPRESS	0x010	/* X-Auto-Response-Suppress: All... */
#define IDENT_AUTO_NULL_SENDER	0x020	/* Return-Path: <> */
#define IDENT_AUTO_AUTOREPLY	0x040	/* X-Autoreply / X-Autorespond */
#define IDENT_AUTO_FEEDBACK_ID	0x080	/* Feedback-ID (bulk senders) */

struct ident_header {
	const char *name;
	size_t name_len;
	const char *value;	/* raw or unfolded; leading spaces allowed */
	size_t value_len;
};

/*
 * True when a local part (canonical or raw) belongs to a machine:
 * noreply, no-reply, donotreply, do-not-reply, mailer-daemon, postmaster,
 * notifications, bounce(s) ... also as a token of a longer local part
 * ("jira-noreply", "bounces+123", "notifications.github").
 */
bool ident_auto_localpart(const char *local, size_t len);

/*
 * Reasons (IDENT_AUTO_* bits) why a message with this sender local part
 * and these headers is machine-sent; 0 means a person.  local may be NULL.
 * Header names are matched case-insensitively; at most the first 256
 * headers are looked at.
 */
unsigned ident_auto_reasons(const char *local, size_t local_len,
    const struct ident_header *hdrs, size_t n_hdrs);

/* Short name of one IDENT_AUTO_* bit ("localpart", "list", ...). */
const char *ident_auto_reason_name(unsigned bit);

/* ---- threads ------------------------------------------------------------ */

#define IDENT_MSGID_MAX		250	/* longer ids are skipped */

struct ident_slice {
	const char *ptr;	/* into the caller's buffer */
	size_t len;
};

/*
 * Tokenizes a Message-ID / In-Reply-To / References value into message
 * ids: the text between '<' and '>' (brackets dropped), comments and
 * folding white space skipped; a value with no '<' at all that is one
 * "x@y" token is taken as one id.  Ids that are empty, longer than
 * IDENT_MSGID_MAX or contain white space or control bytes are skipped;
 * duplicates are dropped.  When more than max ids remain, the first (the
 * thread root in References) and the last max - 1 (the nearest parents)
 * are kept.  Slices point into in.  Returns the number stored (0..max).
 */
size_t ident_msgid_list(const char *in, size_t len, struct ident_slice *ids,
    size_t max);

/*
 * Base subject for the thread fallback: reply/forward prefixes in many
 * languages (Re, Fwd, Fw, AW, WG, SV, VS, TR, RV, Antw, Odp, YNT, 答复,
 * 回复, 转发, 回覆, 轉寄, 회신, 전달 ... with optional "[2]", "(2)",
 * "^2" counters and ':' or the full-width '：'), "[list]" tags, and
 * trailing "(fwd)" removed repeatedly; white space collapsed.  With fold,
 * ASCII letters are lower-cased as well (the thread key).  out (outsz >=
 * 1) is always NUL-terminated; at most outsz - 1 bytes, cut on a UTF-8
 * boundary.  Returns the length written.
 */
size_t ident_subject_base(const char *in, size_t len, bool fold, char *out,
    size_t outsz);

/* ---- contact fields ----------------------------------------------------- */

#define IDENT_TITLE_MAX 120

/*
 * Cleans a job title taken from a signature line: controls and invalid
 * UTF-8 dropped, white space collapsed, separators around it ("|", "-",
 * "–", "—", "•", "·", ",", "/") trimmed.  A line that is really an
 * address, a URL or a phone number (an '@', "http", "www.", or seven or
 * more digits) gives "".  out (outsz >= 1) is always NUL-terminated; at
 * most IDENT_TITLE_MAX bytes, cut on a character boundary.  Returns the
 * length written.
 */
size_t ident_title_clean(const char *in, size_t len, char *out, size_t outsz);

#define IDENT_PHONE_MAX 16	/* '+' and at most 15 digits (E.164) */

/*
 * E.164-style cleanup of a phone number as written in a signature:
 * "+1 (415) 555-0100 ext. 12", "+44 (0)20 7946 0018", "0049 30 1234567",
 * "tel:+33-1-23-45-67-89".  Separators are dropped, an extension is cut
 * off, "(0)" after a country code is dropped, "00" (and "011" when
 * default_cc is "1") become '+'.  A national number (leading '0' or no
 * prefix) gets default_cc ("44", "1"; NULL: refused).  The result must
 * have 8 to 15 digits.  out must hold IDENT_PHONE_MAX + 1 bytes.  Returns
 * 0, or -1 with *errstr_r set.
 */
int ident_phone_e164(const char *in, size_t len, const char *default_cc,
    char *out, size_t outsz, const char **errstr_r);

#endif

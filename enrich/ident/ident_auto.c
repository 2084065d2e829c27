/*
 * ident_auto.c - machine-sent mail: no-reply senders, bounces, auto
 * replies, bulk and list mail.  Such senders never become contacts.
 *
 * Sources: RFC 3834 (Auto-Submitted; responders must not answer mail with
 * it), RFC 2369/2919 (List-*), RFC 5321 4.5.5 (the null reverse-path of
 * bounces), Exchange's X-Auto-Response-Suppress, Feedback-ID (the bulk
 * senders' feedback loop Gmail asks for), and the Precedence header that
 * predates all of them (bulk/list/junk).  X-Mailer is not a marker: it
 * names the software, and people's own clients set it too.
 */
#include <string.h>
#include <strings.h>

#include "enrich/ident/ident.h"
#include "enrich/ident/ident_int.h"

#define HDRS_MAX	256
#define LOCAL_SCAN_MAX	128

/* Whole local parts that are machines. */
static const char *const auto_whole[] = {
	"postmaster", "mailer-daemon", "mailerdaemon", "daemon", "bounce",
	"bounces", "notifications", "notification", "notify", "alerts",
	"autoreply", "auto-reply", "autoresponder", "auto-confirm",
	"automailer", "mailer", "nobody", "devnull", "calendar-notification",
	"calendar-server", "msonlineservicesteam", "invitations",
};

/* Tokens (split on . - _ +) that make any local part a machine. */
static const char *const auto_tokens[] = {
	"noreply", "donotreply", "dontreply", "mailerdaemon", "postmaster",
	"bounce", "bounces", "notifications", "notification", "autoreply",
	"autoresponder", "unsubscribe",
};

/* Words that may be spelled with separators: no-reply, do_not_reply. */
static const char *const auto_joined[] = {
	"noreply", "donotreply", "dontreply", "mailerdaemon", "autoreply",
};

static bool
eq_ci(const char *a, size_t an, const char *b)
{
	return strlen(b) == an && strncasecmp(a, b, an) == 0;
}

static bool
is_sep(char c)
{
	return c == '.' || c == '-' || c == '_' || c == '+' || c == '=';
}

bool
ident_auto_localpart(const char *local, size_t len)
{
	char joined[LOCAL_SCAN_MAX + 1];
	size_t jn = 0, ts = 0;

	if (local == NULL || len == 0)
		return false;
	if (len > LOCAL_SCAN_MAX)
		len = LOCAL_SCAN_MAX;
	for (size_t i = 0; i < sizeof(auto_whole) / sizeof(*auto_whole); i++)
		if (eq_ci(local, len, auto_whole[i]))
			return true;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && !is_sep(local[i])) {
			joined[jn++] = (char)ident_lower(
			    (unsigned char)local[i]);
			continue;
		}
		for (size_t k = 0; k < sizeof(auto_tokens) /
		    sizeof(*auto_tokens); k++)
			if (eq_ci(local + ts, i - ts, auto_tokens[k]))
				return true;
		ts = i + 1;
	}
	joined[jn] = '\0';
	/* "no-reply", "do_not_reply", "mailer-daemon" spelled with separators,
	 * also inside longer names ("jira-no-reply", "noreply123") */
	for (size_t k = 0; k < sizeof(auto_joined) / sizeof(*auto_joined); k++)
		if (strstr(joined, auto_joined[k]) != NULL)
			return true;
	return false;
}

/* Value without surrounding white space. */
static void
value_trim(const struct ident_header *h, const char **v_r, size_t *n_r)
{
	const char *v = h->value;
	size_t n = h->value_len;

	while (n > 0 && ident_is_space((unsigned char)v[0])) {
		v++;
		n--;
	}
	while (n > 0 && ident_is_space((unsigned char)v[n - 1]))
		n--;
	*v_r = v;
	*n_r = n;
}

/* First token (up to ';', ',' or space), for Auto-Submitted/Precedence. */
static size_t
first_token(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n && v[i] != ';' && v[i] != ',' && v[i] != '(' &&
	    !ident_is_space((unsigned char)v[i]))
		i++;
	return i;
}

static bool
suppress_is_auto(const char *v, size_t n)
{
	/* "All", "OOF", "AutoReply" are set on automatic mail; "DR, RN, NRN"
	 * alone is what ordinary Exchange mail may carry. */
	for (size_t i = 0; i < n;) {
		size_t s, e;

		while (i < n && (v[i] == ',' || ident_is_space(
		    (unsigned char)v[i])))
			i++;
		s = i;
		while (i < n && v[i] != ',' &&
		    !ident_is_space((unsigned char)v[i]))
			i++;
		e = i;
		if (eq_ci(v + s, e - s, "all") || eq_ci(v + s, e - s, "oof") ||
		    eq_ci(v + s, e - s, "autoreply"))
			return true;
	}
	return false;
}

unsigned
ident_auto_reasons(const char *local, size_t local_len,
    const struct ident_header *hdrs, size_t n_hdrs)
{
	unsigned r = 0;

	if (local != NULL && ident_auto_localpart(local, local_len))
		r |= IDENT_AUTO_LOCALPART;
	if (n_hdrs > HDRS_MAX)
		n_hdrs = HDRS_MAX;
	for (size_t i = 0; i < n_hdrs; i++) {
		const struct ident_header *h = &hdrs[i];
		const char *v;
		size_t n, t;

		if (h->name == NULL || h->value == NULL)
			continue;
		value_trim(h, &v, &n);
		t = first_token(v, n);
		if (eq_ci(h->name, h->name_len, "auto-submitted")) {
			if (t > 0 && !eq_ci(v, t, "no"))
				r |= IDENT_AUTO_SUBMITTED;
		} else if (eq_ci(h->name, h->name_len, "precedence")) {
			if (eq_ci(v, t, "bulk") || eq_ci(v, t, "list") ||
			    eq_ci(v, t, "junk"))
				r |= IDENT_AUTO_PRECEDENCE;
		} else if (eq_ci(h->name, h->name_len, "list-id") ||
		    eq_ci(h->name, h->name_len, "list-unsubscribe")) {
			r |= IDENT_AUTO_LIST;
		} else if (eq_ci(h->name, h->name_len,
		    "x-auto-response-suppress")) {
			if (suppress_is_auto(v, n))
				r |= IDENT_AUTO_SUPPRESS;
		} else if (eq_ci(h->name, h->name_len, "return-path")) {
			size_t k = 0;

			/* "<>", "< >" */
			if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
				for (k = 1; k + 1 < n && ident_is_space(
				    (unsigned char)v[k]); k++)
					;
				if (k + 1 == n)
					r |= IDENT_AUTO_NULL_SENDER;
			}
		} else if (eq_ci(h->name, h->name_len, "feedback-id")) {
			/* Google's feedback loop for bulk senders: set by
			 * the sending platforms of campaigns and
			 * notifications, never by a mail client. */
			if (n > 0)
				r |= IDENT_AUTO_FEEDBACK_ID;
		} else if (eq_ci(h->name, h->name_len, "x-autoreply") ||
		    eq_ci(h->name, h->name_len, "x-autorespond") ||
		    eq_ci(h->name, h->name_len, "x-autogenerated")) {
			if (!(t > 0 && eq_ci(v, t, "no")))
				r |= IDENT_AUTO_AUTOREPLY;
		}
	}
	return r;
}

const char *
ident_auto_reason_name(unsigned bit)
{
	switch (bit) {
	case IDENT_AUTO_LOCALPART:
		return "localpart";
	case IDENT_AUTO_SUBMITTED:
		return "auto-submitted";
	case IDENT_AUTO_PRECEDENCE:
		return "precedence";
	case IDENT_AUTO_LIST:
		return "list";
	case IDENT_AUTO_SUPPRESS:
		return "auto-response-suppress";
	case IDENT_AUTO_NULL_SENDER:
		return "null-sender";
	case IDENT_AUTO_AUTOREPLY:
		return "autoreply";
	case IDENT_AUTO_FEEDBACK_ID:
		return "feedback-id";
	default:
		return "unknown";
	}
}

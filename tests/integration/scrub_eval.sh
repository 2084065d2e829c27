#!/usr/bin/env bash
# scrub_eval - the scrubber against the labelled corpus.
#
# Runs build/enrich/crm-scrub-eval over tests/fixtures/scrub (86 messages
# the rules were tuned on) and tests/fixtures/scrub/holdout (14 written
# afterwards).  Each message goes through the real MIME parser (libetpan,
# iconv) and the real HTML renderer (libgumbo), as in crm-enrich.
# Fails when the removed-line F1 drops below 0.95 on either set, or when
# more than 1% of new-content lines are removed (over-stripping).
# No server is needed; no ports are used.
. "$(dirname "$0")/../lib/common.sh"
scenario_init scrub_eval 40

EVAL="$B/enrich/crm-scrub-eval"
[ -x "$EVAL" ] || fail "$EVAL not built (make all)"

check() { # DIR LABEL
	local out f1 lost total
	step "$2: $1"
	out="$("$EVAL" --min-f1 0.95 "$ROOT/$1")" || {
		printf '%s\n' "$out"
		fail "$2: removed-line F1 below 0.95"
	}
	printf '%s\n' "$out" | sed 's/^/  /'
	f1="$(sed -n 's/^removed .*F1 \([0-9.]*\).*/\1/p' <<<"$out")"
	read -r lost total < <(sed -n \
	    's/^new-content lines wrongly removed: \([0-9]*\) of \([0-9]*\).*/\1 \2/p' \
	    <<<"$out")
	[ -n "$f1" ] && [ -n "$total" ] || fail "$2: unreadable report"
	[ "$total" -gt 0 ] || fail "$2: no labelled new-content lines"
	[ $((lost * 100)) -le "$total" ] ||
		fail "$2: $lost of $total new-content lines removed (> 1%)"
	grep -q '^files [1-9]' <<<"$out" || fail "$2: no fixtures read"
	note "$2: removed-line F1 $f1, new content lost $lost/$total"
}

check tests/fixtures/scrub tuned
check tests/fixtures/scrub/holdout holdout

# The gate must be able to fail: a corpus whose labels are inverted
# (every N says removed and the reverse) has to score far below 0.95.
mkdir -p "$T/inverted"
for f in "$ROOT"/tests/fixtures/scrub/0[0-2]*.expect; do
	n="$(basename "$f" .expect)"
	cp "$ROOT/tests/fixtures/scrub/$n.eml" "$T/inverted/"
	sed -e 's/^N /X /' -e 's/^[QSD] /N /' -e 's/^X /Q /' "$f" \
	    >"$T/inverted/$n.expect"
done
if "$EVAL" --min-f1 0.95 "$T/inverted" >"$T/inverted.out"; then
	cat "$T/inverted.out"
	fail "inverted labels passed the F1 gate"
fi
pass "scrubber F1 at or above 0.95 on both sets"

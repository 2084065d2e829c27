#!/usr/bin/env bash
# imap_mbsync.sh - mbsync two-way sync of a 520-message mailbox with
# multi-MB attachments, through the target and directly (issue 2, "Must
# show" 1).
#
# Dovecot is loaded with mailgen.py's deterministic corpus (520 messages,
# 5 of 2-6 MB).  mbsync syncs it through the target (STARTTLS) into Maildir
# A and directly from Dovecot (IMAPS) into Maildir B, each with its own
# state.  A and B must hold the same messages byte for byte, with the same
# flags, and both INBOXes exactly the loaded corpus.  Then local changes in
# A (a new draft, a \Flagged added) are pushed through the target: Dovecot
# must have them, and a second direct sync must bring B level with A again.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_mbsync 2
need_cmd mbsync
dovecot_start

step "load the corpus into Dovecot"
t=$(now_ms)
gen="$("$PY" "$TLIB/mailgen.py" maildir "$T/corpus")" || fail "mailgen"
dovecot_import alice "$T/corpus" || fail "doveadm import"
n="$(dovecot_doveadm mailbox status -u alice messages INBOX | sed 's/.*=//')"
[ "$n" = 520 ] || fail "dovecot INBOX has $n messages after import, not 520"
note "$gen; imported $n in $(($(now_ms) - t)) ms"

target_start

rc() { # NAME PORT SSLTYPE DIR
	cat <<EOF
IMAPAccount $1
Host localhost
Port $2
User alice
Pass alicepw
SSLType $3
SSLVersions TLSv1.2 TLSv1.3
CertificateFile $TARGET_CA
AuthMechs LOGIN
PipelineDepth 50

IMAPStore $1-remote
Account $1

MaildirStore $1-local
Path $4/
Inbox $4/INBOX
SubFolders Verbatim

Channel $1
Far :$1-remote:
Near :$1-local:
Patterns *
Create Both
Expunge None
Sync All
SyncState *

EOF
}
mkdir -p "$T/A" "$T/B"
{
	rc target "$TARGET_IMAP" STARTTLS "$T/A"
	rc direct "$DOVE_IMAPS" IMAPS "$T/B"
} >"$T/mbsyncrc"

sync() { # CHANNEL -> prints ms
	local t0 rc
	t0=$(now_ms)
	timeout 120 mbsync -q -c "$T/mbsyncrc" "$1" >>"$T/mbsync.$1.log" 2>&1
	rc=$?
	[ $rc = 0 ] || { tail -n 20 "$T/mbsync.$1.log" >&2; fail "mbsync $1 exited $rc"; }
	echo $(($(now_ms) - t0))
}

step "mbsync pull: through the target -> A, directly -> B"
ms_a="$(sync target)" || exit 1
ms_b="$(sync direct)" || exit 1
bytes="$(du -sb "$T/A" | cut -f1)"
note "target: $ms_a ms, direct: $ms_b ms for $bytes bytes" \
	"($(awk -v b="$bytes" -v ms="$ms_a" 'BEGIN { printf "%.1f", b / 1048576 / (ms / 1000) }') MB/s via target)"
"$PY" "$TLIB/maildir_compare.py" summary "$T/A"
"$PY" "$TLIB/maildir_compare.py" same "$T/A" "$T/B" --flags \
	--source "$T/corpus" ||
	fail "Maildir A (via target) and B (direct) differ"
note "A == B byte for byte with flags; both INBOXes == the 520 loaded messages"

step "push local changes through the target"
draft_id="<mbsync-draft-$$@example.test>"
printf 'From: Alice Seller <alice@example.test>\nTo: dana@acme.example\nSubject: Re: Pilot results (draft)\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nWritten offline; Grüße.\n' \
	"$draft_id" >"$T/A/Drafts/new/$(date +%s).crmtest.1:2,D"
# flag the first unflagged message that has a Message-ID
victim=""
for f in "$T"/A/INBOX/cur/*; do
	case "${f##*:2,}" in *F*) continue ;; esac
	victim="$f"
	break
done
[ -n "$victim" ] || fail "no unflagged message in A/INBOX"
victim_id="$(grep -m1 -i '^Message-ID:' "$victim" | sed 's/^[^:]*: *//')"
flags="${victim##*:2,}"
mv "$victim" "${victim%:2,*}:2,$(echo "F$flags" | fold -w1 | sort | tr -d '\n')"
ms_push="$(sync target)" || exit 1
note "pushed a draft and \\Flagged on $victim_id in $ms_push ms"

dovecot_doveadm search -u alice mailbox Drafts header message-id "$draft_id" |
	grep -q . || fail "the draft did not reach Dovecot's Drafts"
got="$(dovecot_doveadm fetch -u alice flags mailbox INBOX \
	header message-id "$victim_id")"
case "$got" in *'\Flagged'*) ;; *) fail "Dovecot lacks \\Flagged on $victim_id: $got" ;; esac
note "Dovecot has the draft and the flag"

step "direct sync brings B level with A"
ms_b2="$(sync direct)" || exit 1
"$PY" "$TLIB/maildir_compare.py" same "$T/A" "$T/B" --flags ||
	fail "after the push, A and B differ"
note "B re-synced in $ms_b2 ms; A == B"

proxy_alive
proxy_check_log
pass "520 messages, $bytes bytes: via target ${ms_a} ms, direct ${ms_b} ms; push ${ms_push} ms ($TARGET_MODE)"

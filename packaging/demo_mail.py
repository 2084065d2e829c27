#!/usr/bin/env python3
"""demo_mail.py - the demo's mailbox: sales correspondence as real mail.

    demo_mail.py EMAILS_JSONL OUTDIR

Turns the labelled retrieval set (tests/fixtures/retrieval/emails.jsonl:
206 emails between one rep and eight customer accounts) into two Maildirs
for doveadm import:

    OUTDIR/inbox/cur/...   what the customers wrote (direction "in")
    OUTDIR/sent/cur/...    what the rep wrote (direction "out"), addressed
                           to the account's most frequent correspondent

The rep is alice@acme.example.  Deterministic: the same input gives the
same files, Message-IDs and dates.
"""
import collections
import email.utils
import json
import os
import sys
from datetime import datetime, timezone

REP = "alice@acme.example"


def display(addr):
    local = addr.split("@", 1)[0]
    return " ".join(p.capitalize() for p in local.split("."))


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    emails = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")
              if line.strip()]
    out = sys.argv[2]
    freq = collections.defaultdict(collections.Counter)
    for e in emails:
        if e["contact"]:
            freq[e["account"]][e["contact"]] += 1
    counts = {"inbox": 0, "sent": 0}
    for i, e in enumerate(emails):
        box = "inbox" if e["direction"] == "in" else "sent"
        peer = e["contact"] or freq[e["account"]].most_common(1)[0][0]
        frm, to = (peer, REP) if box == "inbox" else (REP, peer)
        when = datetime.strptime(e["sent_at"], "%Y-%m-%dT%H:%M:%SZ")
        date = email.utils.format_datetime(when.replace(tzinfo=timezone.utc))
        body = e["body"].replace("\r\n", "\n").replace("\n", "\r\n")
        msg = (
            "From: %s <%s>\r\n"
            "To: %s <%s>\r\n"
            "Subject: %s\r\n"
            "Date: %s\r\n"
            "Message-ID: <%s@demo.acme.example>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n%s\r\n" % (display(frm), frm, display(to), to,
                            e["subject"], date, e["id"], body))
        d = os.path.join(out, box, "cur")
        os.makedirs(d, exist_ok=True)
        for sub in ("new", "tmp"):
            os.makedirs(os.path.join(out, box, sub), exist_ok=True)
        name = "%d.demo%03d.acme:2,S" % (1790000000 + i * 60, i)
        with open(os.path.join(d, name), "wb") as f:
            f.write(msg.encode("utf-8"))
        counts[box] += 1
    print("inbox %d sent %d" % (counts["inbox"], counts["sent"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""enrich_gen.py - deterministic test events for the crm-enrich scenarios.

    enrich_gen.py OUTDIR [--count N] [--seed S] [--start I]

Writes OUTDIR/NNNNN.eml / .ics (raw values, CRLF), OUTDIR/manifest.tsv
(topic, key, value file, then name=value headers, tab-separated: what a
producer must send) and OUTDIR/expected.json (what PostgreSQL must hold
afterwards, per tenant).  Headers follow docs/events.md, including the
idempotency key computed as specified there, so a message seen in two
mailboxes carries one key.

Two tenants (acme, globex) share external correspondents' addresses, so a
leak between tenants shows up as a wrong count.  Every fourth message is a
reply (In-Reply-To + References); every tenth reply drops its references
and relies on the "Re:" subject; every seventh message is also delivered
to a second mailbox (same Message-ID: one row); some subjects are RFC 2047
encoded and some messages carry a base64 attachment.
"""
import argparse
import base64
import hashlib
import json
import os
import random

TENANTS = {
    "acme": ["alice@acme.example", "bob@acme.example"],
    "globex": ["gina@globex.example", "hank@globex.example"],
}
EXTERNAL = [
    ("Carol Buyer", "carol@initech.com"),
    ("Dave Ops", "Dave.Ops@mail.initech.com"),     # same account, mixed case
    ("Erin", "erin@gmail.com"),                    # free mail: no account
    (None, "noreply@vendor.io"),                   # robot: no contact
    ("Frank", "frank@umbrella.co.uk"),
    ("Grace", "grace@hooli.example"),
]


def idkey(tenant, message_id):
    h = hashlib.sha256()
    h.update(b"crm-idkey/1\0" + tenant.encode() + b"\0message-id\0" +
             message_id.encode())
    return h.hexdigest()


def crlf(s):
    return s.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--calendar", type=int, default=6)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.outdir, exist_ok=True)
    manifest = []
    exp = {t: {"messages": 0, "participants": 0, "threads": 0,
               "attachments": 0, "meetings": 0, "attendees": 0,
               "addresses": set(), "accounts": set()} for t in TENANTS}
    threads = {t: [] for t in TENANTS}   # [(root msgid, subject, [ids])]
    n = 0

    def emit(topic, tenant, user, path, headers):
        manifest.append("\t".join([topic, f"{tenant}/{user}", path] +
                                  [f"{k}={v}" for k, v in headers]))

    for i in range(a.start, a.start + a.count):
        tenant = rnd.choice(sorted(TENANTS))
        users = TENANTS[tenant]
        user = rnd.choice(users)
        ext = rnd.sample(EXTERNAL, rnd.randint(1, 3))
        out = rnd.random() < 0.5
        mid = f"m{i}.{a.seed}@{tenant}.mail.example"
        hdr = []
        subject = f"Proposal {i} for {ext[0][1].split('@')[1]}"
        is_reply = i % 4 == 3 and threads[tenant]
        if is_reply:
            th = rnd.choice(threads[tenant])
            subject = "Re: " + th[1]
            if i % 40 == 39:
                pass   # subject fallback only
            else:
                hdr.append(f"In-Reply-To: <{th[2][-1]}>")
                hdr.append("References: " +
                           " ".join(f"<{x}>" for x in th[2]))
            th[2].append(mid)
        enc_subject = subject
        if i % 5 == 0:
            subject = "Angebot für " + subject
            enc_subject = "=?UTF-8?B?" + base64.b64encode(
                subject.encode()).decode() + "?="
        if not is_reply:
            # replies quote the subject as the reader saw it (decoded)
            threads[tenant].append((mid, subject, [mid]))
            exp[tenant]["threads"] += 1
        if out:
            frm = [(None, user)]
            to = ext
        else:
            frm = [ext[0]]
            to = [(None, user)] + ext[1:]
        cc = [(None, u) for u in users if u != user][:1] if i % 3 == 0 else []

        def fmt(lst):
            return ", ".join(f'"{nm}" <{ad}>' if nm else f"<{ad}>"
                             for nm, ad in lst)
        head = [f"From: {fmt(frm)}", f"To: {fmt(to)}"]
        if cc:
            head.append(f"Cc: {fmt(cc)}")
        head += [f"Subject: {enc_subject}",
                 f"Date: Tue, {1 + i % 28:02d} Sep 2026 10:{i % 60:02d}:00 +0200",
                 f"Message-ID: <{mid}>"] + hdr + ["MIME-Version: 1.0"]
        body = f"Hello,\n\nline {i} of the test corpus.\n\n-- \nSender\n"
        if i % 6 == 0:
            att = bytes(rnd.getrandbits(8) for _ in range(300 + i))
            b = f"b{i}"
            raw = "\n".join(head + [
                f'Content-Type: multipart/mixed; boundary="{b}"', "",
                f"--{b}", "Content-Type: text/plain; charset=utf-8", "",
                body, f"--{b}",
                f'Content-Type: application/pdf; name="offer-{i}.pdf"',
                "Content-Transfer-Encoding: base64",
                f'Content-Disposition: attachment; filename="offer-{i}.pdf"',
                "", base64.encodebytes(att).decode(), f"--{b}--", ""])
            exp[tenant]["attachments"] += 1
        else:
            raw = "\n".join(head + ["Content-Type: text/plain; charset=utf-8",
                                    "", body])
        path = os.path.join(a.outdir, f"{i:05d}.eml")
        with open(path, "wb") as f:
            f.write(crlf(raw))
        parts = set()
        for role, lst in (("from", frm), ("to", to), ("cc", cc)):
            for _, ad in lst:
                parts.add((role, ad.lower()))
                # automated senders are participants, never contacts
                if not ad.lower().startswith("noreply@"):
                    exp[tenant]["addresses"].add(ad.lower())
        for _, ad in ext:
            d = ad.lower().split("@")[1]
            if d in ("gmail.com",) or ad.startswith("noreply"):
                continue
            exp[tenant]["accounts"].add(".".join(d.split(".")[-3:])
                                        if d.endswith(".co.uk")
                                        else ".".join(d.split(".")[-2:]))
        exp[tenant]["messages"] += 1
        exp[tenant]["participants"] += len(parts)
        key = idkey(tenant, mid)
        boxes = [(user, "Sent" if out else "INBOX")]
        if i % 7 == 0:
            other = [u for u in users if u != user][0]
            boxes.append((other, "INBOX"))
        for (u, box) in boxes:
            emit("crm.mail.v1", tenant, u, path, [
                ("schema", "crm.mail/1"), ("tenant", tenant), ("user", u),
                ("direction", "out" if box == "Sent" else "in"),
                ("source", "imap-fetch"), ("mailbox", box),
                ("uid", str(1000 + i)), ("uidvalidity", "1700000000"),
                ("observed-at", "2026-09-01T10:00:00.000Z"),
                ("idempotency-key", key)])
        n += 1

    for j in range(a.calendar):
        tenant = sorted(TENANTS)[j % 2]
        user = TENANTS[tenant][0]
        uid = f"meet-{a.seed}-{j}@{tenant}.example"
        att = EXTERNAL[j % len(EXTERNAL)][1].lower()
        ics = "\n".join([
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//crm tests//EN",
            "METHOD:REQUEST", "BEGIN:VEVENT", f"UID:{uid}", "SEQUENCE:0",
            "DTSTAMP:20260901T090000Z", "DTSTART:20261002T140000Z",
            "DTEND:20261002T150000Z", f"SUMMARY:Demo {j}",
            f"ORGANIZER:mailto:{user}",
            f"ATTENDEE;PARTSTAT=ACCEPTED;CN=Org:mailto:{user}",
            f"ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT:mailto:{att}",
            "END:VEVENT", "END:VCALENDAR", ""])
        path = os.path.join(a.outdir, f"cal{a.start + j:05d}.ics")
        with open(path, "wb") as f:
            f.write(crlf(ics))
        emit("crm.calendar.v1", tenant, user, path, [
            ("schema", "crm.calendar/1"), ("tenant", tenant), ("user", user),
            ("direction", "in"), ("source", "caldav"),
            ("observed-at", "2026-09-01T10:00:00.000Z")])
        exp[tenant]["meetings"] += 1
        exp[tenant]["attendees"] += 2
        if not att.startswith("noreply@"):
            exp[tenant]["addresses"].add(att)
        exp[tenant]["addresses"].add(user)
        d = att.split("@")[1]
        if d != "gmail.com" and not att.startswith("noreply"):
            exp[tenant]["accounts"].add(".".join(d.split(".")[-3:])
                                        if d.endswith(".co.uk")
                                        else ".".join(d.split(".")[-2:]))
    with open(os.path.join(a.outdir, "manifest.tsv"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    for t in exp:
        exp[t]["addresses"] = len(exp[t]["addresses"])
        exp[t]["accounts"] = len(exp[t]["accounts"])
    with open(os.path.join(a.outdir, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1, sort_keys=True)
    print(f"{len(manifest)} records, {n} messages")


if __name__ == "__main__":
    main()

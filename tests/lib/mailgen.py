#!/usr/bin/env python3
"""Deterministic generator of a realistic sales mailbox (stdlib only).

    mailgen.py maildir DIR [--count N] [--big K] [--big-min MB] [--big-max MB]
                           [--seed S]
        Writes N messages (default 520) as a Maildir (DIR/cur, new, tmp),
        K of them (default 5) with a binary attachment of big-min..big-max
        MB (default 2-6).  Prints "messages N bytes B big K".
    mailgen.py one FILE --size MB [--seed S]
        One message with a single attachment of about MB megabytes.

The same seed gives the same bytes on every machine and Python >= 3.9, so
two runs (and the direct and proxied copies of a test) can be compared by
content hash.  The mix is what a rep's INBOX holds: plain text, multipart/
alternative with HTML, RFC 2047 encoded subjects and names (UTF-8 and
ISO-8859-1, B and Q encodings), UTF-8 8bit bodies, folded long headers,
threads with In-Reply-To/References, CC lists, and large attachments.
Messages use LF line endings, as Maildir stores them; IMAP turns them into
CRLF on the wire.
"""
import argparse
import base64
import os
import random
import sys

EPOCH = 1767225600  # 2026-01-01T00:00:00Z: fixed, so Date: is stable

FIRST = ["Anna", "Jörg", "Zoë", "Marek", "Siobhán", "Kenji", "Olu", "Priya",
         "Łukasz", "Inès", "Tom", "Chen", "Maria", "Ahmed", "Sven", "Dana"]
LAST = ["Müller", "O'Brien", "Nakamura", "Nowak", "García", "Smith",
        "Haddad", "Økland", "Lefèvre", "Kowalczyk", "Lee", "Rossi"]
COMPANIES = ["acme.example", "globex.example", "initech.example",
             "umbrella.example", "hooli.example", "stark.example"]
TOPICS = ["Quarterly pricing review", "Renewal for 2026", "Demo follow-up",
          "Security questionnaire", "Contract redlines", "Pilot results",
          "Invoice 4711 overdue", "Onboarding plan", "Price increase ≥ 5 %",
          "Réunion de lancement", "Angebot für Lizenzen", "見積もりのご依頼",
          "Procurement needs W-9", "Meeting moved to Thursday",
          "Re: integration timeline", "SSO rollout – next steps"]
LINES = ["Thanks for the call yesterday, here is the summary.",
         "We would like to move forward with the pilot in Q2.",
         "Could you send the updated quote including the support tier?",
         "Legal has a few comments on section 7.2 (liability).",
         "Grüße aus München – wir melden uns nächste Woche.",
         "Le budget est validé, il manque la signature du DAF.",
         "Our CFO asks whether annual prepay gets a discount.",
         "The security team needs the SOC 2 report before Friday.",
         "ありがとうございます。来週ご連絡いたします。",
         "Please loop in Dana from procurement on the next thread.",
         "We are evaluating two other vendors; timing is tight.",
         "Attached are the notes; action items at the bottom."]


def q_encode(text, charset):
    raw = text.encode(charset)
    out = []
    for b in raw:
        c = chr(b)
        if c.isalnum() and b < 128:
            out.append(c)
        elif c == " ":
            out.append("_")
        else:
            out.append("=%02X" % b)
    return "=?%s?Q?%s?=" % (charset, "".join(out))


def enc_header(rng, text):
    """RFC 2047-encode non-ASCII text, picking B or Q and a charset."""
    if all(ord(c) < 128 for c in text):
        return text
    charset = "utf-8"
    try:
        text.encode("iso-8859-1")
        if rng.random() < 0.4:
            charset = "iso-8859-1"
    except UnicodeEncodeError:
        pass
    if rng.random() < 0.5:
        return q_encode(text, charset)
    return "=?%s?B?%s?=" % (charset,
                            base64.b64encode(text.encode(charset)).decode())


def person(rng):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    dom = rng.choice(COMPANIES)
    local = "".join(c for c in (f[0] + l).lower() if c.isascii() and c.isalnum())
    return "%s <%s@%s>" % (enc_header(rng, f + " " + l), local or "x", dom)


def fold(name, value):
    """Fold a long header at spaces, 78 columns (RFC 5322 2.2.3)."""
    line, out = name + ": ", []
    for word in value.split(" "):
        if len(line) + len(word) + 1 > 78 and line.strip():
            out.append(line.rstrip())
            line = " "
        line += word + " "
    out.append(line.rstrip())
    return "\n".join(out)


def b64_lines(data):
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def body_text(rng, n):
    return "\n".join(rng.choice(LINES) for _ in range(n)) + "\n"


def message(rng, i, big_bytes=0):
    date = EPOCH + i * 3571 + rng.randrange(600)
    msgid = "<%d.%08x@mailgen.example>" % (i, rng.getrandbits(32))
    subject = rng.choice(TOPICS)
    hdr = [
        "Return-Path: <sender@%s>" % rng.choice(COMPANIES),
        "Date: %s" % format_date(date),
        "From: %s" % person(rng),
        "To: Alice Seller <alice@example.test>",
        "Message-ID: %s" % msgid,
        "Subject: %s" % enc_header(rng, "%s #%d" % (subject, i)),
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.3:
        hdr.append(fold("Cc", ", ".join(person(rng)
                                        for _ in range(rng.randrange(2, 9)))))
    if i > 0 and rng.random() < 0.35:
        parent = "<%d.thread@mailgen.example>" % rng.randrange(i)
        hdr.append("In-Reply-To: %s" % parent)
        hdr.append(fold("References", " ".join(
            "<%d.thread@mailgen.example>" % rng.randrange(max(i, 1))
            for _ in range(rng.randrange(1, 12))) + " " + parent))
    if rng.random() < 0.2:
        hdr.append("X-Mailer: mailgen/1 (deterministic test corpus)")
    if rng.random() < 0.1:
        hdr.append(fold("X-Long-Header", " ".join(
            "token%d" % rng.randrange(10**6) for _ in range(60))))

    text = body_text(rng, rng.randrange(2, 40))
    boundary = "=_mailgen_%d_%08x" % (i, rng.getrandbits(32))
    kind = rng.random()
    if big_bytes:
        payload = rng.randbytes(big_bytes)
        hdr.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
        body = ("This is a multi-part message in MIME format.\n\n"
                "--%s\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: 8bit\n\n%s\n"
                "--%s\nContent-Type: application/pdf; name=\"deck-%d.pdf\"\n"
                "Content-Transfer-Encoding: base64\n"
                "Content-Disposition: attachment; filename=\"deck-%d.pdf\"\n\n"
                "%s\n--%s--\n" % (boundary, text, boundary, i, i,
                                  b64_lines(payload), boundary))
    elif kind < 0.45:
        hdr.append("Content-Type: text/plain; charset=utf-8")
        hdr.append("Content-Transfer-Encoding: 8bit")
        body = text
    elif kind < 0.85:
        html = "<html><body>%s</body></html>\n" % "".join(
            "<p>%s</p>" % line for line in text.splitlines())
        hdr.append('Content-Type: multipart/alternative; boundary="%s"'
                   % boundary)
        body = ("--%s\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: 8bit\n\n%s\n"
                "--%s\nContent-Type: text/html; charset=utf-8\n"
                "Content-Transfer-Encoding: quoted-printable\n\n%s\n"
                "--%s--\n" % (boundary, text, boundary, qp(html), boundary))
    else:
        small = rng.randbytes(rng.randrange(2000, 60000))
        hdr.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
        body = ("--%s\nContent-Type: text/plain; charset=us-ascii\n\n"
                "See attached.\n\n"
                "--%s\nContent-Type: image/png; name=\"chart.png\"\n"
                "Content-Transfer-Encoding: base64\n\n%s\n--%s--\n"
                % (boundary, boundary, b64_lines(small), boundary))
    return ("\n".join(hdr) + "\n\n" + body).encode("utf-8"), date


def qp(text):
    out, line = [], ""
    for b in text.encode("utf-8"):
        c = chr(b)
        tok = c if (32 < b < 127 and c != "=") else ("\n" if c == "\n"
                                                     else "=%02X" % b)
        if tok == "\n":
            out.append(line + "\n")
            line = ""
            continue
        if len(line) + len(tok) > 75:
            out.append(line + "=\n")
            line = ""
        line += tok
    out.append(line)
    return "".join(out)


def format_date(t):
    import time
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


def write_maildir(args):
    rng = random.Random(args.seed)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(args.dir, sub), exist_ok=True)
    big = set(rng.sample(range(args.count), min(args.big, args.count)))
    total = 0
    for i in range(args.count):
        size = 0
        if i in big:
            size = rng.randrange(args.big_min << 20, (args.big_max << 20) + 1)
        data, date = message(rng, i, size * 3 // 4)  # base64 grows 4/3
        flags = ""
        r = rng.random()
        if r < 0.6:
            flags = "S"
        if r < 0.1:
            flags = "FS"
        if 0.6 <= r < 0.65:
            flags = "RS"
        path = os.path.join(args.dir, "cur",
                            "%d.M%dP0.mailgen:2,%s" % (date, i, flags))
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (date, date))
        total += len(data)
    print("messages %d bytes %d big %d" % (args.count, total, len(big)))


def write_one(args):
    rng = random.Random(args.seed)
    data, _ = message(rng, 0, int(args.size * (1 << 20) * 3 / 4))
    with open(args.file, "wb") as f:
        f.write(data)
    print("bytes %d" % len(data))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("maildir")
    m.add_argument("dir")
    m.add_argument("--count", type=int, default=520)
    m.add_argument("--big", type=int, default=5)
    m.add_argument("--big-min", type=int, default=2)
    m.add_argument("--big-max", type=int, default=6)
    m.add_argument("--seed", type=int, default=20260101)
    o = sub.add_parser("one")
    o.add_argument("file")
    o.add_argument("--size", type=float, required=True,
                   help="approximate message size in MB")
    o.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.cmd == "maildir":
        if args.big_min > args.big_max:
            ap.error("--big-min > --big-max")
        write_maildir(args)
    else:
        write_one(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

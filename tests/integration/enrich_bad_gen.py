#!/usr/bin/python3
"""enrich_bad_gen.py - hostile records for enrich_badinput.sh.

    enrich_bad_gen.py OUTDIR

Writes OUTDIR/NN-name.eml / .ics and OUTDIR/manifest.tsv in the layout of
enrich_gen.py (topic, key, value file, then name=value headers).  Every
record carries a "test-id" header naming it, which crm-enrich keeps in
kafka_headers of the row it writes and the dead-letter topic keeps with
the record, so each one's fate can be told apart.  All records are for
tenant acme, mailbox alice@acme.example, with valid envelopes: what is
hostile is the payload.

OUTDIR/expect.tsv says, per test-id, what a correct crm-enrich does with
it: "stored" (a messages or meetings row), "dead" (dead-lettered with a
reason) or "either" (both are honest outcomes; the scenario prints which).
"""
import hashlib
import os
import sys

TENANT, USER = "acme", "alice@acme.example"
CRLF = b"\r\n"


def idkey(message_id):
    h = hashlib.sha256()
    h.update(b"crm-idkey/1\0" + TENANT.encode() + b"\0message-id\0" +
             message_id.encode())
    return h.hexdigest()


def head(n, extra=b"", ctype=b"text/plain; charset=utf-8"):
    return CRLF.join([
        b"From: \"Carol Buyer\" <carol@initech.com>",
        b"To: <alice@acme.example>",
        b"Subject: hostile " + str(n).encode(),
        b"Date: Tue, 01 Sep 2026 10:00:00 +0200",
        b"Message-ID: <bad" + str(n).encode() + b"@initech.com>",
        b"MIME-Version: 1.0",
        b"Content-Type: " + ctype]) + CRLF + extra


def mails():
    """(name, bytes, expect) in production order."""
    out = []
    # --- malformed MIME ------------------------------------------------
    out.append(("multipart-no-boundary", head(1, ctype=b"multipart/mixed") +
                CRLF + b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n",
                "stored"))
    out.append(("multipart-unterminated",
                head(2, ctype=b'multipart/mixed; boundary="b"') + CRLF +
                b"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
                b"--b\r\nContent-Type: application/pdf\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n"
                b"JVBERi0xLjQK!!!not base64 at all%%%\r\nQUJD", "stored"))
    out.append(("qp-broken", head(3, extra=b"Content-Transfer-Encoding: "
                b"quoted-printable\r\n") + CRLF +
                b"caf=C3=A9 =ZZ =\r\n=4 soft=\r\nbreak =E2=82\r\n", "stored"))
    out.append(("header-garbage", CRLF.join([
        b"From: carol@initech.com", b"To alice without a colon",
        b"Subject: =?utf-8?B?!!!broken base64?= and \xff\xfe raw bytes",
        b"Message-ID: <bad4@initech.com>", b"X-Nul: a\x00b",
        b"Content-Type: text/plain; charset=utf-8"]) + CRLF + CRLF +
        b"body with a NUL \x00 and bare\nLF\nline ends\r\n", "either"))
    nest = head(5, ctype=b"message/rfc822") + CRLF
    for _ in range(2000):
        nest += b"Content-Type: message/rfc822\r\n\r\n"
    nest += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    out.append(("rfc822-nesting-2000", nest, "stored"))
    out.append(("boundary-in-boundary",
                head(6, ctype=b'multipart/mixed; boundary="a"') + CRLF +
                b"--a\r\nContent-Type: multipart/alternative; boundary=\"a\""
                b"\r\n\r\n--a\r\n--a\r\n--a--\r\n--a--\r\n", "stored"))
    out.append(("not-mail", b"\x00\x01\x02" * 1000, "either"))
    out.append(("empty-headers", CRLF + b"just a body\r\n", "either"))
    # --- wrong charsets --------------------------------------------------
    out.append(("latin1-declared-utf8",
                head(9, ctype=b"text/plain; charset=iso-8859-1") + CRLF +
                "Grüße, naïve café".encode() + CRLF, "stored"))
    out.append(("utf8-declared-invalid", head(10) + CRLF +
                b"valid \xc3\xa9 invalid \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80"
                b" overlong \xc0\xaf\r\n", "stored"))
    out.append(("charset-unknown",
                head(11, ctype=b"text/plain; charset=x-no-such-charset") +
                CRLF + b"some \xe9\xe8 bytes\r\n", "stored"))
    out.append(("rfc2047-unknown", CRLF.join([
        b"From: =?x-unknown?B?!!!?= <carol@initech.com>",
        b"To: alice@acme.example",
        b"Subject: =?iso-2022-jp?B?GyRCJCIbKEI?= =?utf-8?Q?=FF=FE?=",
        b"Message-ID: <bad12@initech.com>",
        b"Content-Type: text/plain; charset=iso-2022-jp"]) + CRLF + CRLF +
        b"\x1b$B$\"\x1b(B broken \x1b$ escape\r\n", "stored"))
    out.append(("utf16-html",
                head(13, ctype=b"text/html; charset=utf-16") + CRLF +
                "<p>hello</p>".encode("utf-16-le") + b"\xd8\x00", "stored"))
    # --- 10,000 parts -----------------------------------------------------
    parts = [head(14, ctype=b'multipart/mixed; boundary="p"') + CRLF,
             b"--p\r\nContent-Type: text/plain\r\n\r\nten thousand parts\r\n"]
    for i in range(10000):
        parts.append(b"--p\r\nContent-Type: image/gif\r\n"
                     b"Content-Disposition: attachment; filename=\"p" +
                     str(i).encode() + b".gif\"\r\n\r\nGIF89a\r\n")
    parts.append(b"--p--\r\n")
    out.append(("parts-10000", b"".join(parts), "stored"))
    # --- 50 MB body ------------------------------------------------------
    line = b"The buyer asked about pricing again; " * 2 + b"\r\n"
    body = line * (50 * 1024 * 1024 // len(line) + 1)
    out.append(("body-50mb", head(15) + CRLF + body, "either"))
    att = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwMTIzNDU2Nzg5MDEy" \
          b"MzQ1Njc4OTAxMjM0\r\n" * (50 * 1024 * 1024 // 78)
    out.append(("attachment-50mb",
                head(16, ctype=b'multipart/mixed; boundary="z"') + CRLF +
                b"--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                b"--z\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: base64\r\n"
                b"Content-Disposition: attachment; filename=\"big.bin\"\r\n"
                b"\r\n" + att + b"--z--\r\n", "either"))
    return out


def ics(lines):
    return CRLF.join(lines) + CRLF


def calendars():
    ev = [b"BEGIN:VCALENDAR", b"VERSION:2.0", b"PRODID:-//crm tests//EN"]
    out = []
    out.append(("ics-unterminated", ics(ev + [
        b"BEGIN:VEVENT", b"UID:bad-c1@acme.example",
        b"DTSTART:20261002T140000Z", b"SUMMARY:cut off"]), "either"))
    out.append(("ics-bad-dates", ics(ev + [
        b"BEGIN:VEVENT", b"UID:bad-c2@acme.example",
        b"DTSTART;TZID=No/Such_Zone:2026-99-99T25:61:00",
        b"DTEND:yesterday", b"SUMMARY:bad dates",
        b"ORGANIZER:mailto:alice@acme.example", b"END:VEVENT",
        b"END:VCALENDAR"]), "either"))
    out.append(("ics-rrule-bomb", ics(ev + [
        b"BEGIN:VEVENT", b"UID:bad-c3@acme.example",
        b"DTSTART:20261002T140000Z", b"DTEND:20261002T150000Z",
        b"RRULE:FREQ=SECONDLY;COUNT=1000000000",
        b"SUMMARY:every second", b"ORGANIZER:mailto:alice@acme.example",
        b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@initech.com",
        b"END:VEVENT", b"END:VCALENDAR"]), "stored"))
    many = ev + [b"BEGIN:VEVENT", b"UID:bad-c4@acme.example",
                 b"DTSTART:20261002T140000Z", b"SUMMARY:crowd \xff\xfe",
                 b"ORGANIZER:mailto:alice@acme.example"]
    for i in range(5000):
        many.append(b"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:guest" +
                    str(i).encode() + b"@initech.com")
    out.append(("ics-5000-attendees", ics(many + [b"END:VEVENT",
                                                  b"END:VCALENDAR"]),
                "either"))
    out.append(("ics-not-calendar", b"BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n",
                "dead"))
    out.append(("ics-binary", bytes(range(256)) * 64, "dead"))
    return out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    manifest, expect = [], []
    n = 0
    for name, raw, exp in mails():
        n += 1
        path = os.path.join(outdir, f"{n:02d}-{name}.eml")
        with open(path, "wb") as f:
            f.write(raw)
        manifest.append("\t".join([
            "crm.mail.v1", f"{TENANT}/{USER}", path,
            "schema=crm.mail/1", f"tenant={TENANT}", f"user={USER}",
            "direction=in", "source=imap-fetch", "mailbox=INBOX",
            f"uid={n}", "uidvalidity=1700000000",
            "observed-at=2026-09-01T10:00:00.000Z",
            f"idempotency-key={idkey(f'hostile-{n}')}",
            f"test-id={n:02d}-{name}"]))
        expect.append(f"{n:02d}-{name}\t{exp}")
    for name, raw, exp in calendars():
        n += 1
        path = os.path.join(outdir, f"{n:02d}-{name}.ics")
        with open(path, "wb") as f:
            f.write(raw)
        manifest.append("\t".join([
            "crm.calendar.v1", f"{TENANT}/{USER}", path,
            "schema=crm.calendar/1", f"tenant={TENANT}", f"user={USER}",
            "direction=in", "source=caldav",
            "observed-at=2026-09-01T10:00:00.000Z",
            f"test-id={n:02d}-{name}"]))
        expect.append(f"{n:02d}-{name}\t{exp}")
    with open(os.path.join(outdir, "manifest.tsv"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    with open(os.path.join(outdir, "expect.tsv"), "w") as f:
        f.write("\n".join(expect) + "\n")
    print(f"{n} records")


if __name__ == "__main__":
    main()

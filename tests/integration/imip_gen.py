#!/usr/bin/env python3
"""imip_gen.py - iMIP test mail for imip_capture.sh, and the checker of
what crm-imip published.  Standard library only; kcat is the Kafka client.

  imip_gen.py mail OUT.eml OUT.ics --uid U --seq N --method M
              [--dtstamp T] [--garbage] [--from A] [--to B] [--style S]
      An Outlook-style (multipart/alternative: text/plain, text/html,
      text/calendar; method=...; base64) or Google-style (multipart/mixed
      around multipart/alternative plus an invite.ics attachment) message.
      OUT.ics receives the calendar part exactly as decoded from base64.
  imip_gen.py read BOOTSTRAP TOPIC OUT.jsonl --expect N --timeout S
      Reads the topic with kcat -J until N records (or the timeout).
"""
import base64
import json
import subprocess
import sys
import time
import uuid


def ics(uid, seq, method, dtstamp, org, att):
    status = "CANCELLED" if method == "CANCEL" else "CONFIRMED"
    if method == "REPLY":
        attline = ("ATTENDEE;PARTSTAT=ACCEPTED;CN=Bob Customer:mailto:%s"
                   % att)
    else:
        attline = ("ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;"
                   "RSVP=TRUE;CN=Bob Customer:mailto:%s" % att)
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
        "VERSION:2.0",
        "METHOD:%s" % method,
        "BEGIN:VTIMEZONE",
        "TZID:W. Europe Standard Time",
        "BEGIN:STANDARD",
        "DTSTART:16011028T030000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        "DTSTART:16010325T020000",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "END:DAYLIGHT",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        "ORGANIZER;CN=Alice Sales:mailto:%s" % org,
        attline,
        "DESCRIPTION;LANGUAGE=en-US:Quarterly review of the Acme account.\\n"
        "\\nJoin: https://meet.example.test/r/12345 \u00e9t\u00e9",
        "UID:%s" % uid,
        "SUMMARY;LANGUAGE=en-US:Q3 review \u2013 Acme",
        "DTSTART;TZID=W. Europe Standard Time:20261210T100000",
        "DTEND;TZID=W. Europe Standard Time:20261210T110000",
        "CLASS:PUBLIC",
        "PRIORITY:5",
        "DTSTAMP:%s" % dtstamp,
        "TRANSP:OPAQUE",
        "STATUS:%s" % status,
        "SEQUENCE:%d" % seq,
        "LOCATION;LANGUAGE=en-US:Room 4",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:REMINDER",
        "TRIGGER;RELATED=START:-PT15M",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    # RFC 5545 folding at 75 octets for the long DESCRIPTION line
    out = []
    for ln in lines:
        b = ln.encode()
        while len(b) > 75:
            cut = 75
            while (b[cut] & 0xC0) == 0x80:
                cut -= 1
            out.append(b[:cut])
            b = b" " + b[cut:]
        out.append(b)
    return b"\r\n".join(out)


def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def mail(args):
    out_eml, out_ics = args[0], args[1]
    o = {"--uid": None, "--seq": "0", "--method": "REQUEST",
         "--dtstamp": "20261126T030000Z", "--from": "alice@example.test",
         "--to": "bob@customer.test", "--style": "outlook"}
    garbage = False
    i = 2
    while i < len(args):
        if args[i] == "--garbage":
            garbage = True
            i += 1
        else:
            o[args[i]] = args[i + 1]
            i += 2
    method = o["--method"]
    if method == "REPLY":
        org, att = o["--to"], o["--from"]
    else:
        org, att = o["--from"], o["--to"]
    if garbage:
        cal = (b"\x00\x01this is not a calendar\r\nBEGIN:VCALENDAR\r\n"
               b"METHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:no uid, no end"
               b"\r\n\xff\xfe")
    else:
        cal = ics(o["--uid"], int(o["--seq"]), method, o["--dtstamp"], org,
                  att)
    open(out_ics, "wb").write(cal)
    b1 = "_000_" + uuid.uuid4().hex
    subj = {"REQUEST": "Q3 review", "REPLY": "Accepted: Q3 review",
            "CANCEL": "Canceled: Q3 review"}[method]
    head = [
        "From: Alice Sales <%s>" % o["--from"],
        "To: Bob Customer <%s>" % o["--to"],
        "Subject: %s" % subj,
        "Date: Thu, 26 Nov 2026 03:00:00 +0000",
        "Message-ID: <%s@example.test>" % uuid.uuid4().hex,
        "MIME-Version: 1.0",
    ]
    alt = [
        "--%s" % b1,
        "Content-Type: text/plain; charset=\"utf-8\"",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Quarterly review of the Acme account.",
        "",
        "--%s" % b1,
        "Content-Type: text/html; charset=\"utf-8\"",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<html><body><p>Quarterly review of the Acme account.</p></body>"
        "</html>",
        "",
        "--%s" % b1,
        "Content-Type: text/calendar; charset=\"utf-8\"; method=%s" % method,
        "Content-Transfer-Encoding: base64",
        "",
        b64(cal),
        "",
        "--%s--" % b1,
    ]
    if o["--style"] == "google":
        b0 = "0000000000" + uuid.uuid4().hex[:16]
        body = head + [
            "Content-Type: multipart/mixed; boundary=\"%s\"" % b0,
            "",
            "--%s" % b0,
            "Content-Type: multipart/alternative; boundary=\"%s\"" % b1,
            "",
        ] + alt + [
            "",
            "--%s" % b0,
            "Content-Type: application/ics; name=\"invite.ics\"",
            "Content-Disposition: attachment; filename=\"invite.ics\"",
            "Content-Transfer-Encoding: base64",
            "",
            b64(cal),
            "--%s--" % b0,
        ]
    else:
        body = head + [
            "Content-Type: multipart/alternative; boundary=\"%s\"" % b1,
            "Thread-Topic: Q3 review",
            "X-MS-Has-Attach:",
            "X-MS-TNEF-Correlator:",
            "",
        ] + alt
    open(out_eml, "wb").write(("\r\n".join(body) + "\r\n").encode())


def read(args):
    bootstrap, topic, out = args[0], args[1], args[2]
    expect, timeout = int(args[4]), float(args[6])
    deadline = time.time() + timeout
    while True:
        p = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic,
                            "-o", "beginning", "-e", "-q", "-J"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        recs = []
        for ln in p.stdout.decode("utf-8").splitlines():
            if not ln.strip():
                continue
            j = json.loads(ln)
            h = j.get("headers") or []
            j["headers"] = {h[k]: h[k + 1] for k in range(0, len(h), 2)}
            recs.append(j)
        if len(recs) >= expect or time.time() > deadline:
            break
        time.sleep(0.5)
    with open(out, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    print(len(recs))


if __name__ == "__main__":
    {"mail": mail, "read": read}[sys.argv[1]](sys.argv[2:])

"""smtp_submission.py - the Python half of smtp_submission.sh.

  smtp_submission.py clients     smtplib and raw-socket sessions through
                                 the proxy (env: PROXY_587, PROXY_465, CA)
  smtp_submission.py verify      Kafka (kcat) against the provider's Maildir

Raw sockets are used where exact bytes matter (smuggling, pipelining,
BDAT): smtplib would normalise them.
"""
import base64
import hashlib
import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import time

CA = os.environ.get("CA", "")
P587 = int(os.environ.get("PROXY_587", "0"))
P465 = int(os.environ.get("PROXY_465", "0"))
FROM = "alice@example.test"

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def tls_ctx():
    return ssl.create_default_context(cafile=CA)


class Raw:
    """An SMTP client speaking raw bytes, with a timeout on every read."""

    def __init__(self, port, implicit=True):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = tls_ctx().wrap_socket(s, server_hostname="localhost") \
            if implicit else s
        self.buf = b""

    def starttls(self):
        self.s = tls_ctx().wrap_socket(self.s, server_hostname="localhost")

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3:4] == b" ":
                return int(line[:3]), lines

    def code(self):
        return self.reply()[0]

    def closed(self):
        try:
            self.s.settimeout(5)
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (OSError, ssl.SSLError):
            return True

    def login(self, user="alice", pw="alicepw"):
        assert self.code() == 220
        self.send(b"EHLO raw.example\r\n")
        assert self.code() == 250
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())
        self.send(b"AUTH PLAIN " + ir + b"\r\n")
        return self.code()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def envelope(r, rcpt="victim@example.test"):
    r.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<" + rcpt.encode() +
           b">\r\nDATA\r\n")
    return [r.code(), r.code(), r.code()]


def smuggling():
    # Each body tries to end the message early with a line end the
    # proxy does not accept, and start a second message behind it.
    tail = (b"MAIL FROM:<evil@example.test>\r\nRCPT TO:<victim@example.test>"
            b"\r\nDATA\r\nSubject: SMUGGLED\r\n\r\nx\r\n.\r\n")
    cases = {
        "LF.CRLF": b"Subject: s1\r\n\r\nhello\n.\r\n" + tail,
        "CRLF.LF": b"Subject: s2\r\n\r\nhello\r\n.\n" + tail,
        "LF.LF": b"Subject: s3\r\n\r\nhello\n.\n" + tail,
        "CR.CR": b"Subject: s4\r\n\r\nhello\r.\r" + tail,
        "CR.CRLF": b"Subject: s5\r\n\r\nhello\r.\r\n" + tail,
        "CRLF.CR": b"Subject: s6\r\n\r\nhello\r\n.\r" + tail,
        "bare CR inside": b"Subject: s7\r\n\r\nhel\rlo\r\n.\r\n" + tail,
        "bare LF inside": b"Subject: s8\r\n\r\nhel\nlo\r\n.\r\n" + tail,
    }
    for name, body in cases.items():
        r = Raw(P465)
        check(r.login() == 235, f"smuggle {name}: login")
        check(envelope(r) == [250, 250, 354], f"smuggle {name}: envelope")
        r.send(body)
        code = r.code()
        check(code == 554, f"smuggle {name}: refused with 554 (got {code})")
        check(r.closed(), f"smuggle {name}: connection closed after it")
        r.close()


def bdat():
    r = Raw(P465)
    check(r.login() == 235, "bdat: login")
    chunk = b"x\r\n.\r\nMAIL FROM:<evil@example.test>\r\nRSET\r\n"
    r.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"NOOP\r\n")
    c1, c2 = r.code(), r.code()
    check((c1, c2) == (502, 250),
          f"bdat: chunk consumed whole, one 502 then NOOP 250 ({c1}, {c2})")
    r.send(b"BDAT 0 LAST\r\nBDAT 5x\r\nBDAT 3\r\n\r\n.RSET\r\n")
    codes = [r.code() for _ in range(4)]
    check(codes == [502, 501, 502, 250],
          f"bdat: 0 LAST / malformed / CRLF-dot chunk ({codes})")
    # An empty last chunk needs no byte after its command line.
    r.send(b"BDAT 0 LAST\r\n")
    check(r.code() == 502, "bdat: a lone 'BDAT 0 LAST' is answered")
    check(envelope(r) == [250, 250, 354], "bdat: DATA still works after")
    r.send(b"Subject: after-bdat\r\n\r\nok\r\n.\r\n")
    check(r.code() == 250, "bdat: message after BDAT accepted")
    r.send(b"QUIT\r\n")
    check(r.code() == 221, "bdat: QUIT")
    r.close()
    # Before login the chunk is consumed too, then refused.
    r = Raw(P465)
    r.code()
    r.send(b"EHLO x\r\nBDAT 12\r\nMAIL FROM:<>NOOP\r\n")
    codes = [r.code() for _ in range(3)]
    check(codes == [250, 530, 250], f"bdat before login ({codes})")
    r.close()


def pipelining():
    r = Raw(P465)
    check(r.login() == 235, "pipelining: login")
    r.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<reject1@example.test>"
           b"\r\nRCPT TO:<p1@example.test>\r\nRCPT TO:<p2@example.test>\r\n"
           b"DATA\r\n")
    codes = [r.code() for _ in range(5)]
    check(codes == [250, 550, 250, 250, 354], f"pipelined envelope ({codes})")
    r.send(b"Subject: pipelined-1\r\n\r\n..stuffed\r\n.\r\n"
           b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<p3@example.test>\r\n"
           b"DATA\r\n")
    codes = [r.code() for _ in range(4)]
    check(codes == [250, 250, 250, 354], f"message + next envelope ({codes})")
    r.send(b"Subject: pipelined-2\r\n\r\n.\r\n")
    check(r.code() == 250, "pipelined second message")
    # Data sent before the 354 (not RFC 2920, but a smuggling lever):
    # the proxy holds it until the provider has answered DATA.
    r.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<p4@example.test>\r\n"
           b"DATA\r\nSubject: early-data\r\n\r\nbody\r\n.\r\n")
    codes = [r.code() for _ in range(4)]
    check(codes == [250, 250, 354, 250], f"data before 354 ({codes})")
    # DATA refused (no recipient): what follows is commands, for both.
    r.send(b"RSET\r\nMAIL FROM:<alice@example.test>\r\n"
           b"RCPT TO:<reject2@example.test>\r\nDATA\r\n"
           b"RSET\r\nNOOP\r\n")
    codes = [r.code() for _ in range(6)]
    check(codes[:3] == [250, 250, 550] and codes[3] >= 500 and
          codes[4:] == [250, 250], f"refused DATA, then commands ({codes})")
    r.send(b"QUIT\r\n")
    check(r.code() == 221, "pipelining: QUIT")
    r.close()


def stuffing():
    r = Raw(P587, implicit=False)
    r.code()
    r.send(b"EHLO x\r\n")
    code, lines = r.reply()
    check(b"250-STARTTLS" in lines and
          not any(b"AUTH" in line for line in lines),
          "587 before TLS: STARTTLS offered, AUTH not")
    r.send(b"AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n")
    check(r.code() == 530, "AUTH before STARTTLS refused (530)")
    r.send(b"MAIL FROM:<a@b>\r\n")
    check(r.code() == 530, "MAIL before AUTH refused (530)")
    # Pipelined plaintext after STARTTLS must never run.
    r.send(b"STARTTLS\r\nQUIT\r\n")
    check(r.code() == 220, "STARTTLS")
    r.buf = b""
    r.starttls()
    r.send(b"EHLO x\r\n")
    code, lines = r.reply()
    check(code == 250 and any(b"AUTH PLAIN" in line for line in lines) and
          not any(b"STARTTLS" in line for line in lines),
          "after TLS: AUTH offered, STARTTLS not, injected QUIT ignored")
    ir = base64.b64encode(b"\0alice\0alicepw")
    r.send(b"AUTH PLAIN " + ir + b"\r\n")
    check(r.code() == 235, "AUTH PLAIN over STARTTLS")
    check(envelope(r, "stuff@example.test") == [250, 250, 354],
          "stuffing: envelope")
    r.send(b"Subject: stuffing\r\n\r\n..one\r\n...\r\n. \r\n.x\r\n"
           b"a.\r\n\r\n.\r\n")
    check(r.code() == 250, "dot-stuffed message accepted")
    r.send(b"QUIT\r\n")
    r.close()


def smtplib_cases():
    big_ok = b"Subject: big-ok\r\n\r\n" + (b"0123456789" * 7 + b"\r\n") * 12000
    big_no = b"Subject: too-big\r\n\r\n" + (b"0123456789" * 7 + b"\r\n") * 22000
    with smtplib.SMTP_SSL("localhost", P465, context=tls_ctx(),
                          timeout=20) as s:
        s.login("alice", "alicepw")
        s.ehlo()
        feats = set(s.esmtp_features)
        want = {"pipelining", "size", "8bitmime", "smtputf8",
                "enhancedstatuscodes", "dsn"}
        check(want <= feats, f"EHLO after login passes {sorted(want)}")
        check("chunking" not in feats and "starttls" not in feats,
              "EHLO after login: CHUNKING and STARTTLS removed")
        s.sendmail(FROM, ["big@example.test"], big_ok)
        check(True, f"{len(big_ok)}-byte message accepted")
        try:
            s.sendmail(FROM, ["big@example.test"], big_no)
            check(False, "over-size message refused at MAIL (SIZE=)")
        except smtplib.SMTPSenderRefused as e:
            check(e.smtp_code == 552, f"over-size, SIZE= given: 552 at MAIL")
        # Without SIZE= the provider refuses after the data: the tap has
        # the whole message by then and must drop it.
        del s.esmtp_features["size"]
        try:
            s.sendmail(FROM, ["big@example.test"], big_no)
            check(False, "over-size message refused after DATA")
        except smtplib.SMTPDataError as e:
            check(e.smtp_code == 552, f"over-size after DATA: 552 ({e})")
        try:
            s.sendmail(FROM, ["x@example.test"],
                       b"Subject: policy\r\nX-Test-Reject: yes\r\n\r\nno\r\n")
            check(False, "policy refusal")
        except smtplib.SMTPDataError as e:
            check(e.smtp_code == 554, f"policy refusal: 554 ({e})")
        try:
            s.sendmail(FROM, ["reject9@example.test"], b"Subject: nobody\r\n"
                       b"\r\nx\r\n")
            check(False, "all recipients refused")
        except smtplib.SMTPRecipientsRefused:
            check(True, "all recipients refused: no message")
        utf8 = ("Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; "
                "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                "Grüße, café\r\n").encode()
        s.sendmail(FROM, ["utf8@example.test"], utf8,
                   mail_options=["BODY=8BITMIME"])
        check(True, "8-bit message accepted")
    # XOAUTH2 through the proxy, good and bad token.
    with smtplib.SMTP_SSL("localhost", P465, context=tls_ctx(),
                          timeout=20) as s:
        s.ehlo()
        s.auth("XOAUTH2", lambda c=None:
               "user=bob\1auth=Bearer token-bob\1\1")
        s.sendmail("bob@example.test", ["oauth@example.test"],
                   b"Subject: xoauth2\r\n\r\nvia oauth\r\n")
        check(True, "XOAUTH2 login and send as bob")
    with smtplib.SMTP_SSL("localhost", P465, context=tls_ctx(),
                          timeout=20) as s:
        s.ehlo()
        try:
            s.auth("XOAUTH2", lambda c=None:
                   "" if c else "user=bob\1auth=Bearer forged\1\1")
            check(False, "forged XOAUTH2 token refused")
        except smtplib.SMTPAuthenticationError as e:
            check(e.smtp_code == 535,
                  f"forged XOAUTH2: challenge passed, then 535 ({e})")
    # Wrong passwords: the provider's 535, then 421 after three.
    r = Raw(P465)
    codes = [r.login("alice", "nope")]
    for _ in range(2):
        ir = base64.b64encode(b"\0alice\0nope")
        r.send(b"AUTH PLAIN " + ir + b"\r\n")
        codes.append(r.code())
    codes.append(r.code())
    check(codes == [535, 535, 535, 421], f"wrong password x3 ({codes})")
    check(r.closed(), "closed after too many failures")


def proxy_protocol():
    r = Raw(int(os.environ["PROXY_LB"]), implicit=False)
    r.send(b"PROXY TCP4 10.1.2.3 127.0.0.1 40000 587\r\n")
    check(r.login() == 235, "PROXY v1 header, then AUTH on a plain listener")
    check(envelope(r, "lb@example.test") == [250, 250, 354],
          "behind a load balancer: envelope")
    r.send(b"Subject: via-load-balancer\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    check([r.code(), r.code()] == [250, 221], "behind a load balancer: sent")
    r.close()


def auth_login_ir():
    r = Raw(P465)
    r.code()
    r.send(b"EHLO x\r\nAUTH LOGIN " + base64.b64encode(b"alice") + b"\r\n")
    code, lines = r.reply()
    check(lines[1:] == [b"250-AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER",
                        b"250-PIPELINING", b"250-SIZE 1048576",
                        b"250-8BITMIME", b"250-SMTPUTF8", b"250 DSN"],
          f"pre-AUTH EHLO from smtp_capabilities ({lines[1:]})")
    codes = [code, r.code()]
    check(codes == [250, 334], f"AUTH LOGIN with the user inline ({codes})")
    r.send(base64.b64encode(b"alicepw") + b"\r\n")
    check(r.code() == 235, "AUTH LOGIN: password line, then 235")
    r.send(b"QUIT\r\n")
    r.close()


def clients():
    proxy_protocol()
    auth_login_ir()
    stuffing()
    smtplib_cases()
    pipelining()
    bdat()
    smuggling()
    if failures:
        print(f"{len(failures)} client checks failed", file=sys.stderr)
        sys.exit(1)


def kafka_events(boot):
    out = subprocess.run(
        ["kcat", "-b", boot, "-C", "-t", "crm.mail.v1", "-o", "beginning",
         "-e", "-q", "-X", "fetch.message.max.bytes=70000000",
         "-f", "%S\n%k\n%s\n%h\n@@END@@\n"],
        capture_output=True, timeout=120, check=True).stdout
    events = []
    while out:
        size, out = out.split(b"\n", 1)
        key, out = out.split(b"\n", 1)
        n = int(size)
        value, out = out[:n], out[n + 1:]
        hdrs, out = out.split(b"\n@@END@@\n", 1)
        events.append((key.decode(), value, hdrs.decode()))
    return events


def parse_headers(h, names):
    """kcat prints name=value,name=value; values may hold ',' and LF, so
    split on the known names."""
    res = {}
    pos = []
    for name in names:
        i = h.find(name + "=")
        while i > 0 and h[i - 1] != ",":
            i = h.find(name + "=", i + 1)
        if i >= 0:
            pos.append((i, name))
    pos.sort()
    for j, (i, name) in enumerate(pos):
        end = pos[j + 1][0] - 1 if j + 1 < len(pos) else len(h)
        res[name] = h[i + len(name) + 1:end]
    return res


def verify():
    boot = os.environ["KAFKA_BOOTSTRAP"]
    maildir = os.environ["SMTPD_MAILDIR"]
    log = [json.loads(line) for line in open(os.environ["SMTPD_LOG"])]
    stored = {}
    for entry in log:
        path = os.path.join(maildir, "new", entry["file"])
        stored[entry["file"]] = (open(path, "rb").read(), entry)
    want = len(stored)
    deadline = time.time() + 90
    events = []
    while time.time() < deadline:
        events = kafka_events(boot)
        if len(events) >= want:
            break
        time.sleep(1)
    time.sleep(3)
    events = kafka_events(boot)
    check(len(events) == want,
          f"{len(events)} events on crm.mail.v1 for {want} stored messages")
    names = ["schema", "tenant", "user", "direction", "source",
             "observed-at", "envelope-from", "envelope-to",
             "envelope-rcpt-count", "idempotency-key"]
    by_hash = {}
    for key, value, h in events:
        hd = parse_headers(h, names)
        ident = (hashlib.sha256(value).hexdigest(), hd.get("user"),
                 hd.get("envelope-to"))
        by_hash.setdefault(ident, []).append((key, hd))
    for name, (content, entry) in stored.items():
        ident = (hashlib.sha256(content).hexdigest(), entry["user"],
                 "\n".join(entry["to"]))
        got = by_hash.get(ident, [])
        subj = content.split(b"\r\n", 1)[0][:40].decode(errors="replace")
        check(len(got) == 1, f"stored '{subj}': exactly one byte-identical "
              f"event ({len(got)})")
        if len(got) != 1:
            continue
        key, hd = got[0]
        check(key == "acme/" + entry["user"], f"  key {key}")
        check(hd.get("schema") == "crm.mail/1" and hd.get("tenant") ==
              "acme" and hd.get("direction") == "out" and
              hd.get("source") == "smtp" and hd.get("user") ==
              entry["user"], f"  schema/tenant/direction/source/user {hd}")
        check(hd.get("envelope-from") == entry["from"] and
              hd.get("envelope-to", "").split("\n") == entry["to"] and
              hd.get("envelope-rcpt-count") == str(len(entry["to"])),
              f"  envelope {hd.get('envelope-from')} -> "
              f"{hd.get('envelope-to', '').split(chr(10))}")
        check(len(hd.get("idempotency-key", "")) == 64, "  idempotency-key")
    for key, value, h in events:
        check(b"SMUGGLED" not in value and b"X-Test-Reject" not in value and
              b"too-big" not in value, "no refused or smuggled message "
              "in an event")
    for content, entry in stored.values():
        check(b"SMUGGLED" not in content and entry["from"] !=
              "evil@example.test", "provider stored no smuggled message")
    if failures:
        print(f"{len(failures)} checks failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    {"clients": clients, "verify": verify}[sys.argv[1]]()

"""Checks for the capture-tap scenarios: what Dovecot holds, what landed in
the spool, what landed on Kafka.  Standard library only; kcat is the Kafka
client (an independent one: nothing of ours reads the topic).

  tap_check.py inventory HOST PORT USER PASS OUT.json [MAILBOX...]
      every message of the mailboxes (all when none are named), fetched
      DIRECTLY from Dovecot: {mailbox: {uidvalidity, uids: {uid:
      [sha256, size, message-id]}, flags: {uid: "\\Seen $X"}}}
  tap_check.py kafka BOOTSTRAP TOPIC OUT.jsonl [--expect N --timeout S]
      reads the topic from the beginning until N records are there (or
      the timeout), writes one JSON line per record: headers, key, value
      sha256 and size (and value itself, base64, when --values)
  tap_check.py spool DIR OUT.jsonl
      every complete record in the spool's segment files, parsed from the
      documented byte layout (docs/spool.md) without the project's reader
  tap_check.py idkey TENANT FILE     the idempotency key of a message file
"""
import base64
import hashlib
import imaplib
import json
import os
import re
import struct
import subprocess
import sys
import time


def message_id(msg):
    """docs/events.md: the first Message-ID field of the header section,
    folded lines followed, the <...> token when present, else trimmed."""
    end = len(msg)
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = msg.find(sep)
        if i >= 0:
            end = min(end, i + len(sep) // 2)
    head = msg[:end]
    lines = re.split(rb"\r?\n", head)
    for i, line in enumerate(lines):
        if line[:11].lower() == b"message-id:":
            v = line[11:]
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                v += lines[j]
                j += 1
            m = re.search(rb"<[^>]*>", v)
            return m.group(0) if m else v.strip(b" \t")
    return None


def idkey(tenant, msg):
    mid = message_id(msg)
    if mid:
        data = b"crm-idkey/1\0" + tenant.encode() + b"\0message-id\0" + mid
    else:
        data = (b"crm-idkey/1\0" + tenant.encode() + b"\0content\0" +
                hashlib.sha256(msg).digest())
    return hashlib.sha256(data).hexdigest()


def inventory(host, port, user, pw, out, boxes):
    c = imaplib.IMAP4(host, int(port))
    c.login(user, pw)
    if not boxes:
        typ, data = c.list()
        for line in data:
            m = re.match(rb'\(.*?\) (?:"[^"]*"|NIL) (.*)$', line)
            name = m.group(1).decode()
            if name.startswith('"'):
                name = name[1:-1]
            boxes.append(name)
    inv = {}
    for box in boxes:
        typ, _ = c.select('"%s"' % box, readonly=True)
        if typ != "OK":
            continue
        uv = int(c.untagged_responses.get("UIDVALIDITY", [b"0"])[0])
        uids, flags = {}, {}
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            fl = re.search(rb"FLAGS \(([^)]*)\)", item[0])
            body = item[1]
            mid = message_id(body)
            uids[str(uid)] = [hashlib.sha256(body).hexdigest(), len(body),
                              mid.decode("latin-1") if mid else None]
            flags[str(uid)] = fl.group(1).decode() if fl else None
        inv[box] = {"uidvalidity": uv, "uids": uids, "flags": flags}
    c.logout()
    with open(out, "w") as f:
        json.dump(inv, f)


def kcat_read(bootstrap, topic, values):
    """One pass over the topic: list of records (dicts)."""
    cmd = ["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning",
           "-e", "-q", "-X", "fetch.message.max.bytes=70000000",
           "-X", "receive.message.max.bytes=71000000",
           "-f", "%p %o %S %K %T %h\n%k%s\n"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300)
    buf = p.stdout
    recs = []
    i = 0
    while i < len(buf):
        nl = buf.index(b"\n", i)
        head = buf[i:nl].decode("utf-8", "replace")
        part, off, vlen, klen, ts, hdrs = (head.split(" ", 5) + [""])[:6]
        vlen = 0 if vlen == "-1" else int(vlen)
        klen = 0 if klen == "-1" else int(klen)
        j = nl + 1
        key = buf[j:j + klen]
        val = buf[j + klen:j + klen + vlen]
        i = j + klen + vlen + 1
        h = {}
        if hdrs:
            for kv in hdrs.split(","):
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    h[k] = v
        r = {"partition": int(part), "offset": int(off),
             "timestamp": int(ts),   # the producer's, ms (CreateTime)
             "key": key.decode("utf-8", "replace"), "headers": h,
             "sha256": hashlib.sha256(val).hexdigest(), "size": len(val)}
        if values:
            r["value"] = base64.b64encode(val).decode()
        recs.append(r)
    return recs


def kafka(bootstrap, topic, out, expect=None, timeout=60, values=False):
    deadline = time.time() + timeout
    while True:
        recs = kcat_read(bootstrap, topic, values)
        if expect is None or len(recs) >= expect or time.time() > deadline:
            break
        time.sleep(1)
    with open(out, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    print(len(recs))


def spool(d, out):
    recs = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".seg"):
            continue
        data = open(os.path.join(d, name), "rb").read()
        assert data[:8] == b"CRMSPOOL", name
        i = 32
        while i + 32 <= len(data):
            if data[i:i + 4] != b"CRMR":
                break
            typ = data[i + 5]
            meta_len = struct.unpack_from("<I", data, i + 8)[0]
            if typ == 2:
                i += 32
                continue
            m = data[i + 32:i + 32 + meta_len]
            tl = m[0]
            topic = m[1:1 + tl].decode()
            kl = struct.unpack_from("<H", m, 1 + tl)[0]
            key = m[3 + tl:3 + tl + kl]
            p = 3 + tl + kl
            hdrs, p = _headers(m, p)
            j = i + 32 + meta_len
            payload = b""
            torn = False
            while True:
                if j + 4 > len(data):
                    torn = True
                    break
                n = struct.unpack_from("<I", data, j)[0]
                j += 4
                if n == 0:
                    break
                payload += data[j:j + n]
                j += n
            if torn or j + 16 > len(data):
                break
            status = data[j]
            m2_len = struct.unpack_from("<I", data, j + 4)[0]
            m2 = data[j + 16:j + 16 + m2_len]
            h2, _ = _headers(m2, 0) if m2_len else ({}, 0)
            j += 16 + m2_len + 4 + 4
            if j > len(data) or data[j - 4:j] != b"CRME":
                break
            if status == 1:
                hdrs.update(h2)
                recs.append({"segment": name, "topic": topic,
                             "key": key.decode(), "headers": hdrs,
                             "sha256": hashlib.sha256(payload).hexdigest(),
                             "size": len(payload),
                             "value": base64.b64encode(payload).decode()})
            i = j
    with open(out, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    print(len(recs))


def _headers(m, p):
    n = m[p]
    p += 1
    h = {}
    for _ in range(n):
        nl = m[p]
        name = m[p + 1:p + 1 + nl].decode()
        p += 1 + nl
        vl = struct.unpack_from("<H", m, p)[0]
        h[name] = m[p + 2:p + 2 + vl].decode("utf-8", "replace")
        p += 2 + vl
    return h, p


def main(argv):
    cmd = argv[1]
    if cmd == "inventory":
        inventory(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7:])
    elif cmd == "kafka":
        expect, timeout, values = None, 60, False
        rest = argv[5:]
        while rest:
            if rest[0] == "--expect":
                expect = int(rest[1])
                rest = rest[2:]
            elif rest[0] == "--timeout":
                timeout = float(rest[1])
                rest = rest[2:]
            elif rest[0] == "--values":
                values = True
                rest = rest[1:]
            else:
                raise SystemExit("unknown option " + rest[0])
        kafka(argv[2], argv[3], argv[4], expect, timeout, values)
    elif cmd == "spool":
        spool(argv[2], argv[3])
    elif cmd == "idkey":
        print(idkey(argv[2], open(argv[3], "rb").read()))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

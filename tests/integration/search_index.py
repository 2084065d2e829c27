#!/usr/bin/python3
"""search_index.py - the Python half of tests/integration/search_index.sh.

    search_index.py gen OUTDIR --tenant T --count N [--start I] [--variant V]
                    [--long | --background K]
        Writes OUTDIR/NNNNN.eml (RFC 5322, CRLF), OUTDIR/manifest.tsv (topic,
        key, file, name=value headers: what a producer sends, as
        enrich_gen.py) and OUTDIR/queries.tsv (idempotency key, topic number,
        a paraphrase query for that message).  Message i is about topic
        i mod 24; the paraphrase avoids the message's own words where it can.
        --long: the body also carries the other topics (several chunks).
        --background K: only K of them (8 make two chunks).

    search_index.py latency MANIFEST QUERIES OUT --brokers B --rate R
                    --search CRM_SEARCH_ARGS...
        Produces each record with kcat at R records per second.  A watcher
        polls PostgreSQL every 50 ms (one long-lived psql) for the
        messages whose chunk rows are committed, and for each of those
        crm-search (the given command line + --json + the paraphrase) is
        run until it returns the message.  A message counts as searchable
        when that crm-search ends; its latency is that moment minus the
        moment just before its kcat started.  OUT gets one line per
        message: key, produce->searchable, produce->stored (messages.
        created_at), stored->indexed (rows seen), indexed->returned by
        crm-search, in ms (-1: never).  Gives up on a message after 60 s.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

# (body, paraphrase query).  The queries are worded as a manager would
# ask, avoiding the body's words.
TOPICS = [
    ("The quote you sent is way above what we budgeted. Our CFO says the "
     "per-seat cost must come down by at least 20 percent before we can "
     "sign.", "customer thinks the offer is too expensive"),
    ("Our security team needs the completed SOC 2 report and answers to "
     "the vendor risk questionnaire before procurement can move forward.",
     "they want compliance paperwork before buying"),
    ("We have decided not to renew when the subscription ends in March; "
     "the team moved to a competitor's tool.",
     "client leaving us at the end of the term"),
    ("Legal sent back the master services agreement with redlines on the "
     "liability caps and the indemnification clause.",
     "lawyers marked up the contract"),
    ("Our champion Maria is leaving the company next Friday and her "
     "replacement has not been named yet.",
     "our main supporter over there is quitting"),
    ("The dashboard has been down since this morning and none of our "
     "reports load. This is blocking the whole operations team.",
     "outage of the product hurting their work"),
    ("Can we move Thursday's demo to next Tuesday afternoon? Two of our "
     "directors cannot make it.", "reschedule the product presentation"),
    ("Invoice 4471 was charged twice on our credit card, please refund the "
     "duplicate payment.", "they were billed two times and want money back"),
    ("We would like to add 200 more licenses for the Berlin office starting "
     "next quarter.", "expanding seats to another location"),
    ("The onboarding sessions were excellent, the trainers answered every "
     "question and the team is already productive.",
     "happy with how the setup training went"),
    ("Our budget has been frozen until the new fiscal year, so the purchase "
     "is on hold.", "spending paused so the deal is delayed"),
    ("We are also evaluating a rival vendor whose pricing is more flexible. "
     "Send your best offer by Friday.",
     "they are comparing us against another supplier"),
    ("The API integration with Salesforce keeps timing out when syncing "
     "more than a thousand contacts.",
     "technical problem connecting to their CRM system"),
    ("Please send the purchase order number and the W-9 form so accounts "
     "payable can set you up.",
     "finance department needs documents to register us"),
    ("Haven't heard back from you in three weeks. Is the project still a "
     "priority on your side?", "deal gone silent with no reply"),
    ("The CEO must approve any contract above fifty thousand dollars, so we "
     "need a deck she can review.", "who signs off on the purchase"),
    ("Our data must stay in EU data centers because of GDPR. Can you "
     "confirm where backups are stored?",
     "privacy regulation and data residency question"),
    ("The mobile app crashes every time a user uploads a photo on Android "
     "14.", "bug on phones when sending pictures"),
    ("Congratulations on the launch! Our users love the new reporting "
     "feature.", "customer praising the new release"),
    ("We need a discount for a three-year commitment paid upfront.",
     "multi-year deal with a price reduction"),
    ("Can you arrange a reference call with another hospital that uses "
     "your product?", "they want to talk to an existing healthcare client"),
    ("Our IT department requires single sign-on with Okta before rollout.",
     "login integration requirement for their identity provider"),
    ("The shipment of hardware scanners arrived damaged and two units do "
     "not power on.", "delivered devices are broken"),
    ("We are planning a pilot with ten users in the finance team for four "
     "weeks.", "small trial with a handful of accountants"),
]

PEOPLE = {
    "acme": ("alice@acme.example", [("Carol Buyer", "carol@initech.com"),
                                    ("Frank", "frank@umbrella.co.uk")]),
    "globex": ("gina@globex.example", [("Victor", "victor@hooli.example"),
                                       ("Wendy", "wendy@initrode.example")]),
}


def idkey(tenant, message_id):
    h = hashlib.sha256()
    h.update(b"crm-idkey/1\0" + tenant.encode() + b"\0message-id\0" +
             message_id.encode())
    return h.hexdigest()


def gen(a):
    os.makedirs(a.outdir, exist_ok=True)
    owner, ext = PEOPLE[a.tenant]
    manifest, queries = [], []
    now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    for i in range(a.start, a.start + a.count):
        topic = i % len(TOPICS)
        body, query = TOPICS[topic]
        name, addr = ext[i % len(ext)]
        mid = f"ix{i}.{a.variant}@{a.tenant}.mail.example"
        rest = [t for j, (t, _) in enumerate(TOPICS) if j != topic]
        if a.long:
            # about 600 words: three to four chunks of 200 tokens, the
            # other topics as background and this one in the middle
            body = "\n\n".join(rest[:11] + [body] + rest[11:] +
                                 rest[:8])
        elif a.background > 0:
            k = min(a.background, len(rest))
            body = "\n\n".join(rest[:k // 2] + [body] + rest[k // 2:k])
        # a line that changes per message, so no two bodies are equal
        body = (f"Hi,\n\n{body}\n\nRef {a.variant}-{i}.\n\nThanks,\n{name}\n")
        raw = "\n".join([
            f'From: "{name}" <{addr}>', f"To: <{owner}>",
            f"Subject: Update {a.variant}-{i}", f"Date: {now}",
            f"Message-ID: <{mid}>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "", body])
        path = os.path.join(a.outdir, f"{i:05d}.eml")
        with open(path, "wb") as f:
            f.write(raw.replace("\n", "\r\n").encode())
        key = idkey(a.tenant, mid)
        hdrs = [("schema", "crm.mail/1"), ("tenant", a.tenant),
                ("user", owner), ("direction", "in"),
                ("source", "imap-fetch"), ("mailbox", "INBOX"),
                ("uid", str(5000 + i)), ("uidvalidity", "1700000000"),
                ("observed-at", time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                              time.gmtime())),
                ("idempotency-key", key)]
        manifest.append("\t".join(["crm.mail.v1", f"{a.tenant}/{owner}",
                                   path] + [f"{k}={v}" for k, v in hdrs]))
        queries.append(f"{key}\t{topic}\t{query}")
    with open(os.path.join(a.outdir, "manifest.tsv"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    with open(os.path.join(a.outdir, "queries.tsv"), "w") as f:
        f.write("\n".join(queries) + "\n")


def produce(brokers, line):
    f = line.rstrip("\n").split("\t")
    args = ["kcat", "-P", "-b", brokers, "-t", f[0], "-k", f[1],
            "-X", "enable.idempotence=true"]
    for h in f[3:]:
        args += ["-H", h]
    subprocess.run(args + [f[2]], check=True)


class Psql:
    """One long-lived psql (the scenario's superuser, PG* environment):
    a poll is a query, not a process start."""

    def __init__(self):
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t"],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True,
                                  bufsize=1)

    def rows(self, sql):
        self.p.stdin.write(sql + ";\n\\echo __end__\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            if line == "":
                raise RuntimeError("psql ended")
            line = line.rstrip("\n")
            if line == "__end__":
                return out
            if line:
                out.append(line)


def latency(a):
    lines = open(a.manifest).read().splitlines()
    qs = [l.split("\t") for l in open(a.queries).read().splitlines()]
    query = {k: q for k, _, q in qs}
    produced = {}           # key -> time just before kcat started
    indexed = {}            # key -> first poll that saw its chunk rows
    found = {}              # key -> end of the crm-search that returned it
    asked = {}              # key -> start of the first crm-search for it
    lock = threading.Lock()
    done = threading.Event()
    errors = []

    def producer():
        try:
            start = time.time()
            for i, line in enumerate(lines):
                wait = start + i / a.rate - time.time()
                if wait > 0:
                    time.sleep(wait)
                with lock:
                    produced[qs[i][0]] = time.time()
                produce(a.brokers, line)
        except Exception as e:   # reported by the main thread
            errors.append(repr(e))
        done.set()

    def watcher():
        # Chunk rows are committed after the vectors are durable
        # (search_ingest), so from this moment crm-search can find it.
        db = Psql()
        while len(indexed) < len(qs) and not errors:
            with lock:
                want = [k for k in produced if k not in indexed]
            if want:
                got = db.rows("SELECT DISTINCT message_key FROM "
                              "message_chunks WHERE message_key IN (" +
                              ",".join(f"'{k}'" for k in want) + ")")
                now = time.time()
                with lock:
                    for k in got:
                        indexed.setdefault(k, now)
            if all(time.time() - produced.get(k, time.time()) > 90
                   for k in want) and want and done.is_set():
                break
            time.sleep(0.05)

    th = threading.Thread(target=producer)
    th.start()
    tw = threading.Thread(target=watcher, daemon=True)
    tw.start()
    calls, call_ms = 0, []
    while len(found) < len(qs) and not errors:
        with lock:
            ready = [k for k in indexed if k not in found]
            late = [k for k in produced if k not in found and
                    time.time() - produced[k] > 60]
        if late:
            print(f"{len(late)} messages not searchable after 60 s",
                  file=sys.stderr)
            for k in late:
                found[k] = None
            continue
        if not ready:
            time.sleep(0.02)
            continue
        for k in ready:
            t = time.time()
            asked.setdefault(k, t)
            out = subprocess.run(a.search + ["--json", query[k]],
                                 capture_output=True, text=True)
            t1 = time.time()
            calls += 1
            call_ms.append((t1 - t) * 1000)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                continue
            keys = [r["message_key"] for acc in
                    json.loads(out.stdout)["accounts"]
                    for r in acc["results"]]
            if k in keys:
                found[k] = t1
    th.join()
    if errors:
        print("producer failed:", errors[0], file=sys.stderr)
        sys.exit(1)
    stored = dict(r.split("|") for r in Psql().rows(
        "SELECT idempotency_key, extract(epoch FROM created_at) FROM "
        "messages WHERE idempotency_key IN (" +
        ",".join(f"'{k}'" for k, _, _ in qs) + ")"))
    with open(a.out, "w") as f:
        # key, produce->searchable, produce->stored, stored->indexed,
        # indexed->returned by crm-search (ms; -1: never)
        for k, _, _ in qs:
            t0, fo = produced[k], found.get(k)
            if fo is None:
                f.write(f"{k} -1 -1 -1 -1 -1\n")
                continue
            st, ix = float(stored[k]), indexed[k]
            f.write(f"{k} {int((fo - t0) * 1000)} {int((st - t0) * 1000)} "
                    f"{int((ix - st) * 1000)} {int((fo - ix) * 1000)} "
                    f"{int((asked[k] - ix) * 1000)}\n")
    call_ms.sort()
    print(f"{calls} crm-search calls, median "
          f"{int(call_ms[len(call_ms) // 2]) if call_ms else 0} ms each")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("outdir")
    g.add_argument("--tenant", required=True, choices=sorted(PEOPLE))
    g.add_argument("--count", type=int, required=True)
    g.add_argument("--start", type=int, default=0)
    g.add_argument("--variant", default="a")
    g.add_argument("--long", action="store_true",
                   help="bodies of several chunks")
    g.add_argument("--background", type=int, default=0, metavar="K",
                   help="K other topics around the message's own")
    l = sub.add_parser("latency")
    l.add_argument("manifest")
    l.add_argument("queries")
    l.add_argument("out")
    l.add_argument("--brokers", required=True)
    l.add_argument("--rate", type=float, default=3.0)
    l.add_argument("--search", nargs=argparse.REMAINDER, required=True)
    a = ap.parse_args()
    gen(a) if a.cmd == "gen" else latency(a)


if __name__ == "__main__":
    main()

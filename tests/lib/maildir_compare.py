#!/usr/bin/env python3
"""Compare Maildir trees by message content, ignoring file names.

    maildir_compare.py summary ROOT          folders, counts, bytes
    maildir_compare.py same ROOT_A ROOT_B [--flags] [--source MAILDIR]

Each folder (a directory with cur/ and new/) becomes a multiset of
(sha256 of the file's bytes, flags); mbsync names files after its own
state (",U=17:2,S"), so names are never compared, only contents and the
flag letters after ":2,"; mbsync's X-TUID header is dropped first.  With --source, the INBOX of both trees must also
hold exactly the messages of that Maildir (what was loaded into Dovecot).
Exit 0 when equal; otherwise print the first differences and exit 1.
"""
import collections
import hashlib
import os
import sys


def folders(root):
    out = {}
    for dirpath, dirnames, _ in os.walk(root):
        if "cur" in dirnames and "new" in dirnames:
            name = os.path.relpath(dirpath, root)
            out[name] = scan(dirpath)
        dirnames[:] = [d for d in dirnames if d not in ("cur", "new", "tmp")]
    return out


def scan(maildir):
    msgs = collections.Counter()
    size = 0
    for sub in ("cur", "new"):
        d = os.path.join(maildir, sub)
        for fn in os.listdir(d):
            with open(os.path.join(d, fn), "rb") as f:
                data = strip_tuid(f.read())
            size += len(data)
            flags = fn.split(":2,", 1)[1] if ":2," in fn else ""
            msgs[(hashlib.sha256(data).hexdigest(), "".join(sorted(flags)))] += 1
    return msgs, size


def strip_tuid(data):
    """Drop mbsync's X-TUID header: a random per-copy tracking id that
    mbsync 1.4 writes into every message it stores, so two syncs of the
    same message never match on it.  Only a header-section line is
    removed; the body is compared untouched."""
    end = data.find(b"\n\n")
    head = data if end < 0 else data[:end + 1]
    i = head.find(b"X-TUID: ")
    if i < 0 or (i > 0 and head[i - 1:i] != b"\n"):
        return data
    j = head.find(b"\n", i)
    return data[:i] + data[j + 1:]


def strip_flags(c):
    out = collections.Counter()
    for (h, _), n in c.items():
        out[h] += n
    return out


def summary(root):
    total_n = total_b = 0
    for name, (msgs, size) in sorted(folders(root).items()):
        n = sum(msgs.values())
        total_n += n
        total_b += size
        print("  %-10s %5d messages %10d bytes" % (name, n, size))
    print("  total      %5d messages %10d bytes" % (total_n, total_b))


def same(a, b, flags, source):
    fa, fb = folders(a), folders(b)
    bad = 0
    if set(fa) != set(fb):
        print("folders differ: %s vs %s" % (sorted(fa), sorted(fb)))
        bad += 1
    for name in sorted(set(fa) & set(fb)):
        ma, mb = fa[name][0], fb[name][0]
        if not flags:
            ma, mb = strip_flags(ma), strip_flags(mb)
        if ma != mb:
            bad += 1
            only_a, only_b = ma - mb, mb - ma
            print("%s: %d messages only in A, %d only in B"
                  % (name, sum(only_a.values()), sum(only_b.values())))
            for k in list(only_a)[:3]:
                print("   A only:", k)
            for k in list(only_b)[:3]:
                print("   B only:", k)
    if source:
        src = strip_flags(scan(source)[0])
        for root, f in ((a, fa), (b, fb)):
            got = strip_flags(f.get("INBOX", (collections.Counter(), 0))[0])
            if got != src:
                bad += 1
                print("%s/INBOX differs from the loaded source: %d missing, "
                      "%d extra" % (root, sum((src - got).values()),
                                    sum((got - src).values())))
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "summary":
        summary(sys.argv[2])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "same":
        args = sys.argv[2:]
        flags = "--flags" in args
        source = None
        if "--source" in args:
            source = args[args.index("--source") + 1]
        return same(args[0], args[1], flags, source)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

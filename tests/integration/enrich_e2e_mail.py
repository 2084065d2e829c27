#!/usr/bin/python3
"""enrich_e2e_mail.py - the mailboxes of tests/integration/enrich_e2e.sh.

    enrich_e2e_mail.py OUTDIR

Writes, for tenant acme (own domain acme.example, reps alice and bob):

    OUTDIR/alice/cur/...   alice's INBOX (a Maildir for doveadm import)
    OUTDIR/bob/cur/...     bob's INBOX
    OUTDIR/sent.eml        what alice APPENDs to Sent through the proxy

Deterministic (fixed dates and Message-IDs, no randomness), CRLF line
ends, so the scenario can name every expected row.  The cases:

  - Initech (initech.com): people write from initech.com and from
    eu.initech.com - one account, two mail domains.
  - Umbrella (umbrella.co.uk): a co.uk-style domain, one sender on the
    sales.umbrella.co.uk host - the account is umbrella.co.uk, never co.uk.
  - free mail: erin@gmail.com and zoe@yahoo.co.uk - contacts, no account.
  - machines: noreply@vendorly.io (a no-reply local part) and
    billing@vendorly.io (Auto-Submitted: auto-generated) - participants,
    never contacts; vendorly.io never becomes an account.
  - internal: bob@acme.example writes to alice - colleagues, no account.
  - a thread of three: dana's question (INBOX), alice's answer (the Sent
    APPEND: In-Reply-To + References), dana's reply with carl in Cc
    (References to both), processed in whatever order they arrive.
  - RFC 2047: a Q-encoded UTF-8 subject, a B-encoded one, and an
    ISO-8859-1 encoded display name.
  - one message sent to alice and bob (same Message-ID in both INBOXes):
    one row.
  - ordinary traffic so that at least 30 records cross the proxy, each a
    thread of its own (distinct subjects, no references).
"""
import os
import sys

NAMES = {
    "dana@initech.com": "Dana Whitfield",
    "carl@eu.initech.com": "Carl Berger",
    "juergen@initech.com": "=?ISO-8859-1?Q?J=FCrgen_M=FCller?=",
    "frank@umbrella.co.uk": "Frank Hale",
    "ian@sales.umbrella.co.uk": "Ian Wright",
    "erin@gmail.com": "Erin Park",
    "zoe@yahoo.co.uk": "Zoe Adams",
    "noreply@vendorly.io": "Vendorly",
    "billing@vendorly.io": "Vendorly Billing",
    "alice@acme.example": "Alice Seller",
    "bob@acme.example": "Bob Closer",
}


def addr(a):
    return "%s <%s>" % (NAMES[a], a)


def message(mid, frm, to, subject, day, body, cc=(), extra=()):
    h = [
        "From: " + addr(frm),
        "To: " + ", ".join(addr(t) for t in to),
    ]
    if cc:
        h.append("Cc: " + ", ".join(addr(c) for c in cc))
    h += [
        "Subject: " + subject,
        "Date: %02d Nov 2026 %02d:%02d:00 +0000" % (day, 8 + day % 9,
                                                    (day * 7) % 60),
        "Message-ID: <%s>" % mid,
    ]
    h += list(extra)
    h += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
          "Content-Transfer-Encoding: 8bit"]
    text = "\r\n".join(h) + "\r\n\r\n" + body.replace("\n", "\r\n")
    if not text.endswith("\r\n"):
        text += "\r\n"
    return text.encode("utf-8")


ALICE = []
BOB = []

# The thread of three (the middle one is alice's answer, appended to Sent).
ALICE.append(message(
    "renewal-1@initech.com", "dana@initech.com", ["alice@acme.example"],
    "Renewal terms for 2027", 2,
    "Hi Alice,\n\nbefore we sign the renewal: can you confirm the 2027 "
    "price per seat\nand whether the support tier stays the same?\n\n"
    "Thanks,\nDana\n"))
SENT = message(
    "renewal-2@acme.example", "alice@acme.example", ["dana@initech.com"],
    "Re: Renewal terms for 2027", 3,
    "Hi Dana,\n\nthe price per seat stays at 41 EUR and the support tier "
    "is unchanged.\nI attached nothing, as promised.\n\nBest,\nAlice\n\n"
    "On 2 Nov 2026, Dana Whitfield wrote:\n> before we sign the renewal: "
    "can you confirm the 2027 price per seat\n",
    extra=["In-Reply-To: <renewal-1@initech.com>",
           "References: <renewal-1@initech.com>"])
ALICE.append(message(
    "renewal-3@initech.com", "dana@initech.com", ["alice@acme.example"],
    "Re: Renewal terms for 2027", 4,
    "Great, thank you. Carl from our EU office will handle the purchase "
    "order.\n\nDana\n", cc=["carl@eu.initech.com"],
    extra=["In-Reply-To: <renewal-2@acme.example>",
           "References: <renewal-1@initech.com> <renewal-2@acme.example>"]))

# RFC 2047: a Q-encoded and a B-encoded subject, an encoded name.
ALICE.append(message(
    "angebot-1@sales.umbrella.co.uk", "ian@sales.umbrella.co.uk",
    ["alice@acme.example"],
    "=?UTF-8?Q?Angebot_f=C3=BCr_Q1_=E2=80=93_Lieferung?=", 5,
    "Hello Alice,\n\nplease find our delivery plan for Q1 below.\n\n"
    "Kind regards,\nIan Wright\nHead of Procurement\n"))
ALICE.append(message(
    "po-1@initech.com", "juergen@initech.com", ["alice@acme.example"],
    "=?UTF-8?B?QmVzdGVsbHVuZyBOci4gNDcxMSDDvGJlcm1pdHRlbHQ=?=", 6,
    "Guten Tag,\n\ndie Bestellung ist unterwegs.\n\nJuergen\n"))

# Free mail and machines.
ALICE.append(message(
    "erin-1@mail.gmail.com", "erin@gmail.com", ["alice@acme.example"],
    "Intro from the conference", 7,
    "Hi Alice, we met at the booth. I consult for mid-size retailers.\n"))
ALICE.append(message(
    "zoe-1@yahoo.co.uk", "zoe@yahoo.co.uk", ["alice@acme.example"],
    "Looking for a reference customer", 8,
    "Hello, could one of your customers talk to us about the rollout?\n"))
ALICE.append(message(
    "notice-1@vendorly.io", "noreply@vendorly.io", ["alice@acme.example"],
    "Your Vendorly password was changed", 9,
    "This is an automated message. Do not reply.\n"))
ALICE.append(message(
    "invoice-1@vendorly.io", "billing@vendorly.io", ["alice@acme.example"],
    "Invoice INV-2026-118 is available", 10,
    "Your monthly invoice is ready.\n",
    extra=["Auto-Submitted: auto-generated"]))

# Internal.
ALICE.append(message(
    "pipeline-1@acme.example", "bob@acme.example", ["alice@acme.example"],
    "Pipeline review Friday", 11,
    "Alice, can you bring the Initech and Umbrella numbers on Friday?\n"))

# To both reps: one row.
SHARED = message(
    "security-1@initech.com", "dana@initech.com",
    ["alice@acme.example", "bob@acme.example"],
    "Security questionnaire", 12,
    "Hi both, our security team sent the questionnaire; answers by the "
    "20th please.\n")
ALICE.append(SHARED)
BOB.append(SHARED)

# Bob's own customers.
BOB.append(message(
    "kickoff-1@umbrella.co.uk", "frank@umbrella.co.uk", ["bob@acme.example"],
    "Onboarding kickoff agenda", 13,
    "Bob, here is the agenda for the kickoff. Ian will join from sales.\n",
    cc=["ian@sales.umbrella.co.uk"]))
BOB.append(message(
    "frank-2@umbrella.co.uk", "frank@umbrella.co.uk", ["bob@acme.example"],
    "Data migration questions", 14,
    "Which export format do you need from our old system?\n"))

# Ordinary traffic: one thread each.
FILLER = [
    ("dana@initech.com", "Invoice address change"),
    ("carl@eu.initech.com", "Purchase order 88213"),
    ("carl@eu.initech.com", "VAT number for the EU entity"),
    ("juergen@initech.com", "Lieferadresse Werk 2"),
    ("frank@umbrella.co.uk", "Training dates in December"),
    ("ian@sales.umbrella.co.uk", "Discount for 500 seats"),
    ("frank@umbrella.co.uk", "SSO configuration"),
    ("dana@initech.com", "Quarterly business review slides"),
    ("ian@sales.umbrella.co.uk", "Reference call next week"),
    ("carl@eu.initech.com", "Budget approval received"),
    ("erin@gmail.com", "Follow-up on retail pilots"),
    ("dana@initech.com", "Legal review of the DPA"),
    ("frank@umbrella.co.uk", "Sandbox access for the IT team"),
    ("juergen@initech.com", "Rechnung 2026-0042"),
    ("ian@sales.umbrella.co.uk", "Pricing sheet update"),
    ("carl@eu.initech.com", "Delivery window for January"),
    ("dana@initech.com", "Feature request: audit log export"),
    ("frank@umbrella.co.uk", "Go-live checklist"),
    ("ian@sales.umbrella.co.uk", "Competitor comparison"),
    ("dana@initech.com", "Renewal signature process"),
    ("carl@eu.initech.com", "Second site rollout"),
    ("frank@umbrella.co.uk", "Support escalation path"),
]
for i, (frm, subj) in enumerate(FILLER):
    ALICE.append(message(
        "f%02d@%s" % (i + 1, frm.split("@")[1]), frm, ["alice@acme.example"],
        subj, 13 + i % 14,
        "Hi Alice,\n\n%s: details below, nothing urgent.\n\nThanks\n" % subj))


def write_maildir(d, msgs):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i, m in enumerate(msgs):
        with open(os.path.join(d, "cur", "%d.%04d.e2e:2,S" % (
                1700000000 + i, i)), "wb") as f:
            f.write(m)


def main():
    out = sys.argv[1]
    write_maildir(os.path.join(out, "alice"), ALICE)
    write_maildir(os.path.join(out, "bob"), BOB)
    with open(os.path.join(out, "sent.eml"), "wb") as f:
        f.write(SENT)
    print("alice %d bob %d sent 1" % (len(ALICE), len(BOB)))


if __name__ == "__main__":
    main()

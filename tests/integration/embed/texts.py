#!/usr/bin/env python3
"""texts.py - the embedding tests' corpus and token-id comparison.

  texts.py gen [N]                      N (1000) texts, NUL-separated, to stdout
  texts.py compare MODEL TEXTS IDS      IDS: crm-embed --tokens output (JSON Lines)
                                        vs HF `tokenizers` on MODEL/tokenizer.json

The corpus is deterministic (fixed seed) and mixes what mail really holds with
what breaks tokenizers: accents precomposed and combining, emoji (ZWJ, skin
tones, flags), CJK / kana / Hangul, RTL scripts, Unicode punctuation, odd
whitespace and format characters, words over 100 characters, special-token
text, and email headers, quotes and addresses.  Texts never contain NUL (it
is the record separator); the unit tests cover NUL.
"""
import json
import random
import sys

HAND = [
    "The quick brown fox jumps over the lazy dog.",
    "Café NAÏVE résumé — Zürich",
    "日本語のテキスト and 中文",
    "e-mail: bob@example.com, re: [URGENT] $1,234.56!!",
    "\tTabs\u0001and\u200bzero-width\ufeffBOM",
    "unaffable antidisestablishmentarianism",
    "😀 emoji ✉️ 👩🏽‍💻 🇩🇪 🫠",
    "x" * 150,
    "word " * 400,
    "Ångström ﬁ ligature Ⅻ ² ½ İstanbul ß Σίσυφος ǅ",
    "Re: Fwd: [list] <a@b.c> =?UTF-8?B?SGk=?=\r\n\r\nBody",
    "x[SEP]y [CLS][CLS] [cls] [UNK] [MASK]ed [PAD]",
    "",
    "   ",
    "a\u2028b\u2029c\u3000d\u00a0e\u1680f\u202fg\u205fh\u0085i\u000bj\u000ck",
    "A\u0301\u0327 e\u0308 o\u0302\u0323 n\u0303",
    "한국어 텍스트입니다. Привет, мир! Γειά σου κόσμε",
    "שלום עולם مرحبا بالعالم नमस्ते दुनिया สวัสดีชาวโลก",
    "\U0002a700\U0002b820\U0002b920 mixed𠀀ideo",
    "On Tue, Mar 3, 2026 at 10:14 AM Jane Doe <jane.doe@acme.io> wrote:\n> pricing is too high\n>> really?",
    "https://example.com/path?q=a+b&x=%20#frag",
    "“Smart quotes” ‘single’ «guillemets» „low“ — – … · • ‹›",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３",
    "ﬀﬃ Ǆǅǆ ǈ Ⓐⓑ ㎏ ℃ ™ ©",
    "\ue000private\U000f0000use",
    "CamelCaseWordsAndSHOUTING andlowercase",
    "numbers 3.14159 1e-9 0xDEADBEEF 1,000,000",
    "tab\tseparated\tvalues\nnew\nlines\r\ncrlf",
    "é" * 100 + " " + "é" * 101,
    "supercalifragilisticexpialidocious" * 3,
]

ALPH = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "accent": "éèêëàâäçñÅåøÆæœŒÿüöïîÉÈÀÇÑÖÜßðþłŁřšžčćđ",
    "combining": "\u0300\u0301\u0302\u0303\u0308\u030a\u0327\u0323\u0331",
    "digits": "0123456789",
    "ascii_punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "uni_punct": "—–…“”‘’·•‹›«»¡¿§¶†‡‰′″‼⁇、。「」『』【】・！？",
    "symbols": "€£¥₹©®™°±×÷∞≈≠≤≥→←↑↓♥★☆✓✗",
    "emoji": ["😀", "😂", "🥰", "👍", "🙏", "🔥", "🎉", "✉️", "👩🏽‍💻",
              "👨‍👩‍👧", "🇺🇸", "🇯🇵", "🫠", "❤️", "🤝🏻"],
    "cjk": "日本語中文漢字東京北京上海台灣香港學習研究會議價格問題",
    "kana": "ひらがなカタカナテキストメールありがとう",
    "hangul": "한국어텍스트가격문제회의감사합니다",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщыэюяАБВГДЖ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΣΩάέήίόύώ",
    "rtl": "שלוםעולםمرحبابالعالم",
    "indic": "नमस्तेदुनियाहिन्दी",
    "thai": "สวัสดีชาวโลก",
    "space": [" ", " ", " ", " ", "\t", "\n", "\r\n", "\u00a0", "\u2009",
              "\u3000", "\u2028", "\u0085", "\u000b"],
    "format": ["\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\u2060",
               "\u0001", "\u007f", "\u001f", "\ufffd", "\u0378"],
    "special": ["[CLS]", "[SEP]", "[UNK]", "[MASK]", "[PAD]", "[cls]",
                "[SEP", "SEP]"],
}
MAIL_WORDS = ("hi hello thanks regards pricing price discount renewal contract "
              "invoice quote meeting call schedule tomorrow friday budget "
              "approval legal procurement deadline proposal demo trial seats "
              "license annual monthly competitor concerns expensive cheaper "
              "signed PO Q3 Q4 EOD ASAP FYI re fwd cc bcc").split()
NAMES = ["jane", "bob", "ana.lopez", "j.smith", "sales", "procurement", "o'brien"]
DOMAINS = ["example.com", "acme.io", "mail.co.uk", "müller.de", "xn--mller-kva.de"]


def pick(rng, alph, n):
    src = ALPH[alph]
    return "".join(rng.choice(src) for _ in range(n))


def random_text(rng, vocab):
    kind = rng.randrange(6)
    if kind == 0:       # soup of every alphabet
        keys = list(ALPH)
        return "".join(pick(rng, rng.choice(keys), rng.randint(1, 6))
                       for _ in range(rng.randint(1, 40)))
    if kind == 1:       # vocabulary words, odd casing and spacing
        out = []
        for _ in range(rng.randint(1, 80)):
            w = rng.choice(vocab)
            r = rng.random()
            w = w.upper() if r < .15 else w.title() if r < .3 else w
            out.append(w + rng.choice(ALPH["space"] if rng.random() < .2
                                      else [" "]))
        return "".join(out)
    if kind == 2:       # an email
        who = f"{rng.choice(NAMES)}@{rng.choice(DOMAINS)}"
        body = " ".join(rng.choice(MAIL_WORDS) for _ in range(rng.randint(5, 120)))
        quote = "\n".join("> " + " ".join(rng.choice(MAIL_WORDS) for _ in range(8))
                          for _ in range(rng.randint(0, 4)))
        return (f"From: {rng.choice(NAMES).title()} <{who}>\r\nSubject: Re: "
                f"{rng.choice(MAIL_WORDS)} {rng.randint(1, 999)}\r\n\r\n"
                f"{body}\n{quote}\n-- \n{who} | +1 (555) {rng.randint(100, 999)}-0100")
    if kind == 3:       # long words and accents, composed and decomposed
        parts = []
        for _ in range(rng.randint(1, 12)):
            n = rng.choice([1, 5, 20, 99, 100, 101, 150])
            w = pick(rng, rng.choice(["latin", "accent"]), n)
            if rng.random() < .3:
                w = "".join(c + (rng.choice(ALPH["combining"])
                                 if rng.random() < .3 else "") for c in w)
            parts.append(w)
        return " ".join(parts)
    if kind == 4:       # scripts with punctuation and special-token text
        keys = ["cjk", "kana", "hangul", "cyrillic", "greek", "rtl", "indic",
                "thai", "uni_punct", "ascii_punct", "special", "emoji", "space"]
        return "".join(pick(rng, rng.choice(keys), rng.randint(1, 5))
                       for _ in range(rng.randint(1, 30)))
    # whitespace and format-character oddities around ordinary words
    return "".join(rng.choice(MAIL_WORDS) + pick(rng, rng.choice(["space", "format"]),
                                                 rng.randint(1, 3))
                   for _ in range(rng.randint(1, 30)))


def corpus(n, vocab):
    rng = random.Random(20261125)
    texts = list(HAND)
    while len(texts) < n:
        texts.append(random_text(rng, vocab))
    return [t.replace("\0", "") for t in texts[:n]]


def load_vocab_words():
    return ["pricing", "renewal", "contract", "unbelievable", "café", "naïve",
            "straße", "tokenizer", "embedding", "quarterly", "negotiation",
            "ambient", "capture", "deal", "churn", "Zürich", "São", "Kraków"]


def main(argv):
    if argv[:1] == ["gen"]:
        n = int(argv[1]) if len(argv) > 1 else 1000
        sys.stdout.buffer.write(b"\0".join(t.encode() for t in
                                           corpus(n, load_vocab_words())))
        return 0
    if argv[:1] == ["compare"]:
        from tokenizers import Tokenizer
        model, texts_path, ids_path = argv[1:4]
        texts = open(texts_path, "rb").read().decode().split("\0")
        ours = [json.loads(l) for l in open(ids_path)]
        tok = Tokenizer.from_file(f"{model}/tokenizer.json")
        tok.no_padding()                       # the file ships Fixed(128) padding
        max_len = json.load(open(f"{model}/sentence_bert_config.json"))["max_seq_length"]
        tok.enable_truncation(max_length=max_len)
        if len(ours) != len(texts):
            print(f"count mismatch: {len(ours)} outputs for {len(texts)} texts")
            return 1
        same, bad = 0, []
        for i, (t, o) in enumerate(zip(texts, ours)):
            ref = tok.encode(t).ids
            if ref == o:
                same += 1
            else:
                bad.append((i, t, ref, o))
        for i, t, ref, o in bad[:10]:
            k = next((j for j, (a, b) in enumerate(zip(ref, o)) if a != b),
                     min(len(ref), len(o)))
            print(f"DIFF text {i} {t[:60]!r}\n  at {k}: hf {ref[k:k + 8]} ours {o[k:k + 8]}")
        print(f"tokens: {same}/{len(texts)} identical to HF tokenizers")
        return 0 if not bad else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

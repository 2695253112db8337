"""Generators for the NIR guard's tests and benchmark: NIRs from the grammar of
SPEC §4 spelled the ways people type them, and the look-alikes people type
every day, each from its own grammar. Every generator takes a ``random.Random``
so that the same code feeds hypothesis (``st.randoms()``) and seeded corpora.
All numbers are generated: none is a real person's.
"""
import random
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = [f"{m:02d}" for m in (*range(1, 13), *range(20, 43), *range(50, 100))]
OVERSEAS = [*range(971, 979), *range(984, 990)]


def nir_key(body: str) -> int:
    """Computed independently of the guard (which has its own)."""
    digits = body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7].upper(), body[5:7]) + body[7:]
    return 97 - int(digits) % 97


@dataclass
class Nir:
    fields: list[str]  # sex, year, month, département, commune, order
    key: str | None
    key_valid: bool | None

    @property
    def body(self) -> str:
        return "".join(self.fields)


def nir(r: random.Random) -> Nir:
    """A NIR from SPEC §4's grammar: metropolitan, Corsican (either case),
    overseas (3-digit département, 2-digit commune), foreign-born (99),
    provisional (sex 7/8, any "month"); without key, valid key or wrong key."""
    sex = r.choice("12345678")
    year = f"{r.randrange(100):02d}"
    month = f"{r.randrange(100):02d}" if sex in "78" else r.choice(MONTHS)
    place = r.random()
    if place < 0.5:
        dep, commune = f"{r.randint(1, 95):02d}", f"{r.randint(1, 999):03d}"
    elif place < 0.65:
        dep, commune = r.choice(["2A", "2B", "2a", "2b"]), f"{r.randint(1, 999):03d}"
    elif place < 0.85:
        dep, commune = str(r.choice(OVERSEAS)), f"{r.randint(1, 99):02d}"
    else:
        dep, commune = "99", f"{r.randint(100, 499):03d}"
    fields = [sex, year, month, dep, commune, f"{r.randint(1, 999):03d}"]
    valid = nir_key("".join(fields))
    which = r.random()
    if which < 1 / 3:
        return Nir(fields, None, None)
    if which < 2 / 3:
        return Nir(fields, f"{valid:02d}", True)
    wrong = r.choice([k for k in range(100) if k != valid])
    return Nir(fields, f"{wrong:02d}", False)


# The separators people type, and a few they paste: every kind of space
# (non-breaking, narrow, thin, figure, ideographic), tabs, line breaks, dots,
# dashes (hyphen, non-breaking hyphen, en/em dash, minus), slashes, underscores.
SEPARATOR_PIECES = [" ", " ", " ", "  ", "   ", "\u00a0", "\u202f", "\u2009", "\u2007", "\u3000", "\t", "\n", "\r\n",
                    ".", ".", "-", "-", "\u2010", "\u2011", "\u2013", "\u2014", "\u2212", "/", "_"]


def separator(r: random.Random) -> str:
    run = "".join(r.choice(SEPARATOR_PIECES) for _ in range(r.choice([1, 1, 1, 2, 3])))
    if r.random() < 0.2:
        run = " " + run + " "  # "1 . 85 . 05", "... - 36"
    return run


def _atoms(n: Nir) -> list[str]:
    """The NIR as indivisible characters: Corsica's 2A stays in one piece."""
    atoms = []
    for f in n.fields + ([n.key] if n.key else []):
        atoms += [f] if f.upper() in ("2A", "2B") else list(f)
    return atoms


def grouping(r: random.Random, n: Nir) -> list[str]:
    """How the characters are grouped: by fields (some merged), key glued or
    set apart, regular blocks, pairs after the sex digit, or arbitrary cuts."""
    mode = r.random()
    units = n.fields + ([n.key] if n.key else [])
    if mode < 0.35:  # by fields, some gaps merged: 1 85 05 78006 084 36
        groups = [units[0]]
        for u in units[1:]:
            if r.random() < 0.25:
                groups[-1] += u
            else:
                groups.append(u)
        return groups
    if mode < 0.5:  # the body glued, the key apart (or glued)
        return [n.body] + ([n.key] if n.key else []) if r.random() < 0.8 else [n.body + (n.key or "")]
    atoms = _atoms(n)
    if mode < 0.65:  # regular blocks of 2 to 5: 185 057 800 608 436
        size = r.randint(2, 5)
        out, cur = [], ""
        for a in atoms:
            cur += a
            if len(cur) >= size:
                out.append(cur)
                cur = ""
        return out + ([cur] if cur else [])
    if mode < 0.75:  # sex apart then pairs: 1 85 05 78 00 60 84 36
        out, cur = [atoms[0]], ""
        for a in atoms[1:]:
            cur += a
            if len(cur) >= 2:
                out.append(cur)
                cur = ""
        return out + ([cur] if cur else [])
    # arbitrary cuts
    p = r.uniform(0.1, 0.7)
    out = [atoms[0]]
    for a in atoms[1:]:
        if r.random() < p:
            out.append(a)
        else:
            out[-1] += a
    return out


def spell(r: random.Random, n: Nir) -> str:
    """One spelling: a grouping and a separator run per gap, sometimes
    separators around the number too."""
    groups = grouping(r, n)
    text = groups[0]
    for g in groups[1:]:
        text += separator(r) + g
    if r.random() < 0.15:
        text = separator(r) + text + separator(r)
    return text


def fixed_spellings(n: Nir) -> list[str]:
    """Eight deterministic spellings, the most common ones first."""
    units = n.fields + ([n.key] if n.key else [])
    key = n.key or ""
    return [
        n.body,
        n.body + key,
        " ".join(units),
        ".".join(units),
        "-".join(n.fields),
        "\u00a0".join(units),
        n.fields[0] + " . " + " . ".join(units[1:]),
        n.fields[0] + " " + "".join(n.fields[1:3]) + "." + "".join(n.fields[3:5]) + "\u00a0-\u00a0" + n.fields[5]
        + (" - " + key if key else ""),
    ]


# ---------------------------------------------------------------- random French text

WORDS = ("le la les un une des de du et ou mais donc pour avec sans chez sur dans par à au aux "
         "personne madame monsieur famille caisse dossier demande rendez-vous attestation droits carte "
         "vitale logement hébergement accompagnement situation urgence courrier adresse semaine mois "
         "rappeler contacter transmettre merci bonjour cordialement signalée reçue envoyée bloquée "
         "aujourd'hui hier demain depuis encore toujours très bien".split())
CITIES = ["Annecy", "Lyon", "Ajaccio", "Bastia", "Saint-Denis", "Cayenne", "Pointe-à-Pitre", "Thonon-les-Bains"]


def sentence(r: random.Random, *, numbers: bool = True, first: int = 0) -> str:
    """A few French words, sometimes with the everyday numbers of a message
    (not before the ``first`` word)."""
    words = [r.choice(WORDS) for _ in range(r.randint(2, 12))]
    if numbers and r.random() < 0.3:
        words.insert(r.randint(first, len(words)), r.choice(["le 3", "à 14h30", "au 12 rue", "2 enfants",
                                                            "depuis 2019", "n° 5", "48 h"]))
    text = " ".join(words)
    return text[0].upper() + text[1:] + r.choice([".", ".", " !", " ?", " :", ";", ","])


def embed(r: random.Random, spelled: str) -> tuple[str, int]:
    """The spelled number inside a French message; returns the text and where
    the number starts. (Pass a plain ``random.Random`` under hypothesis: the
    prose is not worth its draws.)"""
    before = " ".join(sentence(r) for _ in range(r.randint(0, 3)))
    lead = r.choice(["", "", "NIR : ", "NIR ", "n° ", "numéro de sécurité sociale ", "(", "« ", "sécu: ",
                     "Mme Durand, née le 12/03/1985, NIR ", "Tél. 06 12 34 56 78, NIR : "])
    trail = r.choice(["", "", ".", ",", ")", " »", "\n", " ;"])
    after = " ".join(sentence(r) for _ in range(r.randint(0, 3)))
    head = (before + (" " if before else "") + lead)
    return head + spelled + trail + (" " + after if after else ""), len(head)


# ---------------------------------------------------------------- look-alikes

def _digits(r: random.Random, n: int) -> str:
    return f"{r.randrange(10 ** n):0{n}d}"


def _luhn_complete(r: random.Random, digits: str) -> str:
    for last in "0123456789":
        candidate = digits + last
        total = 0
        for i, ch in enumerate(reversed(candidate)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return candidate
    raise AssertionError


def _regroup(r: random.Random, digits: str, sizes: list[int], sep: str | None = None) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(digits[i:i + s])
        i += s
    if sep is None:
        sep = r.choice([" ", " ", "\u00a0", ".", "-"])
    return sep.join(out)


def phone_national(r: random.Random) -> str:
    digits = "0" + r.choice("123456789") + _digits(r, 8)
    form = r.random()
    if form < 0.6:
        return _regroup(r, digits, [2] * 5)
    if form < 0.75:
        return digits
    if form < 0.85:  # each gap its own separator, as when retyped by hand
        seps = [r.choice([" ", ".", "-", "\u00a0"]) for _ in range(4)] + [""]
        return "".join(digits[2 * k:2 * k + 2] + seps[k] for k in range(5))
    return _regroup(r, "08" + _digits(r, 8), [1, 3, 3, 3], " ")  # 0 800 123 456


def phone_international(r: random.Random) -> str:
    national = r.choice("123456789") + _digits(r, 8)
    pairs = national[0] + " " + _regroup(r, national[1:], [2] * 4, " ")
    return r.choice([
        "+33 " + pairs, "+33 (0)" + pairs, "+33" + national, "0033 " + pairs, "0033" + national,
        "+33 0" + pairs, "+33.6." + _regroup(r, national[1:], [2] * 4, "."),
        "+262 692 " + _regroup(r, _digits(r, 6), [2, 2, 2], " "),
        "+590 690 " + _regroup(r, _digits(r, 6), [2] * 3, " "),
        "+32 2 " + _regroup(r, _digits(r, 7), [3, 2, 2], " "), "+41 22 " + _regroup(r, _digits(r, 7), [3, 2, 2], " "),
    ])


def phone(r: random.Random) -> str:
    return phone_national(r) if r.random() < 0.7 else phone_international(r)


def phones_in_a_row(r: random.Random) -> str:
    """Several numbers on one line: spaces, slashes, commas, dashes between."""
    joiner = r.choice([" ", "  ", " / ", "/", ", ", ",", " - ", " ou ", " et ", " ; ", "\n", " | "])
    return joiner.join(phone(r) for _ in range(r.randint(2, 4)))


def a_date(r: random.Random) -> str:
    d = date(1900, 1, 1) + timedelta(days=r.randrange(365 * 130))
    fmt = r.choice(["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %m %Y", "%Y-%m-%d", "%d/%m/%y", "%m/%Y", "%Y"])
    text = d.strftime(fmt)
    if r.random() < 0.15:
        text = text.replace("/0", "/").lstrip("0")  # 3/7/1985
    return text


def date_range(r: random.Random) -> str:
    return r.choice(["du {} au {}", "{} - {}", "{} – {}", "{}/{}", "{} {}", "{}, {}"]).format(a_date(r), a_date(r))


def postcode(r: random.Random) -> str:
    code = f"{r.randint(1000, 98899):05d}"
    return r.choice([code, f"{code} {r.choice(CITIES)}", f"BP {r.randint(1, 999)} - {code} {r.choice(CITIES)} Cedex",
                     f"{code}, {r.randint(1000, 98899):05d}", f"{r.randint(1, 120)} rue des Lilas {code}"])


def siren(r: random.Random) -> str:
    number = _luhn_complete(r, _digits(r, 8))
    return r.choice([number, _regroup(r, number, [3, 3, 3])])


def siret(r: random.Random) -> str:
    number = _luhn_complete(r, _luhn_complete(r, _digits(r, 8)) + _digits(r, 4))
    return r.choice([number, _regroup(r, number, [3, 3, 3, 5]), _regroup(r, number, [9, 5], " "),
                     _regroup(r, number, [3, 3, 3, 3, 2])])


def iban(r: random.Random) -> str:
    country, length = r.choice([("FR", 23), ("FR", 23), ("FR", 23), ("DE", 18), ("BE", 12), ("ES", 20)])
    bban = _digits(r, length)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    if r.random() < 0.2:
        value = value.lower() if r.random() < 0.3 else value
        return value
    sep = r.choice([" ", " ", "\u00a0"])
    return sep.join(value[i:i + 4] for i in range(0, len(value), 4))


def amount(r: random.Random) -> str:
    cents = r.randrange(10 ** r.randint(2, 11))
    euros = f"{cents // 100:,}".replace(",", r.choice([" ", "\u00a0", "\u202f", ".", ""]))
    return r.choice([f"{euros},{cents % 100:02d} €", f"{euros} €", f"{euros},{cents % 100:02d}\u00a0€",
                     f"{cents / 100:.2f} EUR", f"{euros} euros", f"{euros},{cents % 100:02d} € et {euros} €"])


def caf_number(r: random.Random) -> str:
    number = _digits(r, 7)
    return r.choice([number, f"n° allocataire {number}", f"CAF : {number}", f"{number} / {_digits(r, 7)}"])


def mdph_number(r: random.Random) -> str:
    dep = f"{r.randint(1, 95):02d}"
    year = str(r.randint(2005, 2026))
    return r.choice([f"{dep}-{year}-{_digits(r, 6)}", f"{year}/{_digits(r, 6)}", f"MDPH {dep}{_digits(r, 7)}",
                     f"dossier MDPH n° {_digits(r, 8)}", f"{dep} {year} {_digits(r, 5)}"])


def fiscal_number_0(r: random.Random) -> str:
    number = "0" + _digits(r, 12)
    return r.choice([number, _regroup(r, number, [2, 2, 3, 3, 3], " "), f"numéro fiscal : {number}"])


def ean13(r: random.Random) -> str:
    body = r.choice("09") + _digits(r, 11)
    check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10
    number = body + str(check)
    return r.choice([number, _regroup(r, number, [1, 6, 6], " ")])


def reference(r: random.Random) -> str:
    year = r.randint(2020, 2030)
    return r.choice([f"{year}-{r.randrange(10 ** 6):06d}", f"EP-{year}-{r.randrange(10 ** 6):06d}",
                     f"T-{year}-{r.randrange(10 ** 5):05d}", f"réf. {year}/{r.randrange(10 ** 6):06d}",
                     f"{year}-{r.randrange(10 ** 6):06d} et {year}-{r.randrange(10 ** 6):06d}"])


LOOK_ALIKES = [phone_national, phone_international, phones_in_a_row, a_date, date_range, postcode, siren, siret, iban,
               amount, caf_number, mdph_number, fiscal_number_0, ean13, reference]

LABELS = {phone_national: ["Tél.", "tél :", "portable", "Joignable au"],
          phone_international: ["Tél.", "depuis l'étranger"],
          phones_in_a_row: ["Joignable au", "Numéros :"], a_date: ["le", "né le", "depuis le", "Date :"],
          date_range: ["période", "hébergé"], postcode: ["à", "adresse :", "CP"], siren: ["SIREN", "SIREN :"],
          siret: ["SIRET", "n° SIRET"], iban: ["IBAN", "RIB :"], amount: ["montant", "reste à charge", "dette de"],
          caf_number: ["allocataire", "n° CAF"], mdph_number: ["MDPH", "dossier"],
          fiscal_number_0: ["numéro fiscal", "SPI"], ean13: ["code", "EAN"], reference: ["réf.", "demande"]}


def look_alike(r: random.Random, labelled: bool | None = None) -> tuple[str, str]:
    """One look-alike, labelled or not; returns (kind, text)."""
    make = r.choice(LOOK_ALIKES)
    text = make(r)
    if labelled or (labelled is None and r.random() < 0.5):
        text = f"{r.choice(LABELS[make])} {text}"
    return make.__name__, text


def look_alike_message(r: random.Random, prose: random.Random | None = None) -> str:
    """A message as partners write them: French text and 1-5 look-alikes, each
    introduced by a word, some on one line ("Tél. 06 ... - SIRET 123 ...").
    The words come from ``prose`` when given."""
    prose = prose or r
    parts = [look_alike(r, labelled=True)[1] for _ in range(r.randint(1, 5))]
    joiner = r.choice([" ", " - ", " – ", ", ", "\n", " / ", " · ", " ; "])
    return f"{sentence(prose)} {joiner.join(parts)} {sentence(prose, first=1)}"


def look_alike_pileup(r: random.Random) -> str:
    """A harder case than people type: 2-5 look-alikes side by side without a
    word between them ("74000 - 06 12 34 56 78 - 12/03/2024"). Some of these
    read as a NIR; the benchmark reports how many."""
    parts = [look_alike(r, labelled=False)[1] for _ in range(r.randint(2, 5))]
    return r.choice([" ", " - ", " – ", ", ", "\n", " / ", " · "]).join(parts)

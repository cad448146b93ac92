"""Near-duplicate texts: shingles, MinHash signatures and LSH band keys.

Copies of one story (a reprint on another portal, the same article on several WeChat accounts)
have near-identical main texts. Each text becomes a set of *shingles*, runs of consecutive
tokens, and a MinHash signature of that set, whose positions agree between two texts about as
often as their shingle sets overlap (Jaccard similarity). Each of the :data:`NUM_PERM` positions
is the least of ``(a * h + b) mod p`` over the shingles' 32-bit hashes ``h`` (BLAKE2b), with ``a``
and ``b`` drawn once from :data:`SEED` and ``p`` the largest 32-bit prime: the classic universal
hashing scheme, done with numpy in a few lines. datasketch does the same, but importing it loads
scipy: half a second and some 70 MB in every process that loads the config.

Tokens: every CJK character (Han, kana, Hangul) is a token of its own, since these scripts
write no spaces between words; every run of other letters and digits is a token (a word).
Mixed text is decided per text: it is shingled as CJK (:data:`CJK_SHINGLE` characters a
shingle) when it has at least as many CJK characters as words in other scripts, else as Latin
(:data:`WORD_SHINGLE` words a shingle); the tokens of the other script stay in the run either
way (a Chinese article quoting an English name, numbers in both). A translation shares almost no
shingles with its original, so it never matches.

LSH: the signature's :data:`NUM_PERM` values are cut into :data:`BANDS` bands of :data:`ROWS`;
two texts sharing one band's values are candidates (archive.catalogue: the ``story_bands``
table). Bands of 3 make a text of similarity 0.5 a candidate with probability 0.996 and one of
0.3 with 0.68, while unrelated texts (similarity near 0) almost never are; the candidates are
then kept only if the signatures' estimated similarity reaches the threshold. So the threshold
can change without indexing again, and is reliable from about 0.4 up.

A text with fewer than :data:`MIN_SHINGLES` shingles (a caption, a short notice) gets no
signature: short texts are alike by chance.

Changing NUM_PERM, BANDS, ROWS, the seed, the scheme or the shingling makes stored signatures
and band keys incomparable with new ones: that takes a migration that empties the story tables.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

NUM_PERM = 128
BANDS = 42
ROWS = 3
SEED = 1
PRIME = 4294967291              # the largest prime under 2**32: values fit 4 bytes each
WORD_SHINGLE = 3                # Latin text: shingles of this many words
CJK_SHINGLE = 4                 # CJK text: shingles of this many characters
MIN_SHINGLES = 30               # fewer: no signature (too short to tell copies from chance)

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+")
_CJK_RE = re.compile(rf"[{_CJK}]")
_MIX = np.uint64(0x9E3779B97F4A7C15)


def tokens(text: str) -> list[str]:
    """The text's tokens, lower case: each CJK character, each word of other scripts."""
    return _TOKEN_RE.findall(text.lower())


def is_cjk(found: list[str]) -> bool:
    """Whether tokens are shingled as CJK: at least as many CJK characters as other words."""
    cjk = sum(1 for token in found if len(token) == 1 and _CJK_RE.match(token))
    return cjk > 0 and cjk >= len(found) - cjk


def shingles(text: str) -> set[str]:
    """The text's shingles (module docstring); empty for a text of no tokens."""
    found = tokens(text)
    size = CJK_SHINGLE if is_cjk(found) else WORD_SHINGLE
    if len(found) <= size:
        return {" ".join(found)} if found else set()
    return {" ".join(found[i:i + size]) for i in range(len(found) - size + 1)}


class Signer:
    """Makes signatures; holds the :data:`NUM_PERM` hash functions' ``a`` and ``b``, drawn once
    from :data:`SEED` (every signer draws the same ones)."""

    def __init__(self) -> None:
        draw = np.random.RandomState(SEED)
        self._a = draw.randint(1, PRIME, NUM_PERM, dtype=np.uint64)
        self._b = draw.randint(0, PRIME, NUM_PERM, dtype=np.uint64)

    def sign(self, text: str | None) -> np.ndarray | None:
        """The MinHash signature of a text (:data:`NUM_PERM` uint32 values), or None when the
        text has fewer than :data:`MIN_SHINGLES` shingles."""
        found = shingles(text or "")
        if len(found) < MIN_SHINGLES:
            return None
        hashes = np.fromiter(
            (int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=4).digest(), "little")
             for s in found), dtype=np.uint64, count=len(found))
        # a, h < 2**32, b < p: a * h + b < 2**64, no overflow in uint64
        values = (hashes[:, None] * self._a[None, :] + self._b[None, :]) % np.uint64(PRIME)
        return values.min(axis=0).astype(np.uint32)


def to_bytes(signature: np.ndarray) -> bytes:
    """A signature as stored: little-endian uint32s."""
    return signature.astype("<u4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


def band_keys(signature: np.ndarray) -> list[tuple[int, int]]:
    """(band, key) of each band: the band's :data:`ROWS` values mixed into a signed 64-bit
    integer (SQLite's INTEGER). Equal values give equal keys; unequal ones collide about once in
    2**64 (a collision only makes a candidate, which the similarity check then rejects)."""
    rows = signature[:BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
    with np.errstate(over="ignore"):
        mixed = (rows[:, 0] << np.uint64(32)) | rows[:, 1]
        mixed = mixed ^ (rows[:, 2] * _MIX)
        mixed = mixed ^ (mixed >> np.uint64(29))
    signed = mixed.view(np.int64)
    return [(band, int(key)) for band, key in enumerate(signed)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The estimated Jaccard similarity of the texts of two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """The exact Jaccard similarity of two shingle sets (for measurements and tests)."""
    first, second = set(a), set(b)
    union = first | second
    return len(first & second) / len(union) if union else 0.0

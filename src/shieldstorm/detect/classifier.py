"""A linear text classifier (TF-IDF + logistic regression) evaluated in pure Python.

The model is trained with scikit-learn by `bench/corpus/train_classifier.py` and shipped as plain data
(`detect/data/injection_classifier.json.gz`: vocabulary, idf, coefficients, intercept, preprocessing
parameters). Nothing here imports scikit-learn or numpy, and nothing is unpickled: loading a model
executes no code. `LinearTextModel.probability` reproduces `Pipeline.predict_proba` of the trained
`FeatureUnion(TfidfVectorizer, ...)` + `LogisticRegression` to float rounding (tested against
scikit-learn in tests/detect/test_classifier.py):

* each block tokenises like the vectorizer (`word`: `token_pattern` then n-grams joined by one space;
  `char_wb`: n-grams of each whitespace-separated word padded with one space on both sides);
* term counts -> `1 + ln(tf)` when `sublinear_tf` -> times idf -> L2-normalised per block;
* logit = sum of block dot products + intercept; probability = logistic(logit).

The text is first reduced to what the model was trained on: the detector's normalised view
(`normalize.normalized_view`) of the first `head_chars` and last `tail_chars` characters.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Any

from shieldstorm.detect.normalize import normalized_view
from shieldstorm.errors import ConfigError

MODEL_FORMAT = "shieldstorm-linear-text-classifier"
MODEL_FORMAT_VERSION = 1
BUILTIN_MODEL = "injection_classifier.json.gz"
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's char_wb whitespace folding, character class only


# scikit-learn's default token pattern `(?u)\b\w\w+\b` finds the maximal runs of word characters that
# are at least two long. For ASCII text that is: map every non-word byte to a space, split, drop
# one-character pieces - one C-level translate instead of a regex scan (3x faster; same tokens, tested).
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_ASCII_WORD_TABLE = bytes(i if chr(i).isalnum() or i == 0x5F else 0x20 for i in range(128)) + b" " * 128


@dataclass(frozen=True)
class _Block:
    """One vectorizer of the feature union, with the classifier weights of its columns."""

    analyzer: str  # "word" | "char_wb"
    ngram_min: int
    ngram_max: int
    token_re: re.Pattern[str] | None
    sublinear_tf: bool
    # n-gram -> (idf, coefficient, idf * idf, idf * coefficient), all orders in one table: word n-grams
    # are keyed by the token itself (n = 1) or a tuple of n tokens (no string joins on the hot path, and
    # orders cannot collide), char_wb n-grams by the string. The two products are a term's contributions
    # when it occurs once (the usual case): the same floats `dot` would compute, so the sum is
    # bit-identical. Terms with a zero coefficient still count towards the L2 norm.
    terms: dict[Any, tuple[float, float, float, float]]

    def tokens(self, text: str) -> list[str]:
        assert self.token_re is not None
        if self.token_re.pattern == DEFAULT_TOKEN_PATTERN and text.isascii():
            return [w for w in text.encode("ascii").translate(_ASCII_WORD_TABLE).decode("ascii").split() if len(w) > 1]
        return self.token_re.findall(text)

    def grams(self, text: str) -> Iterable[Any]:
        """Every n-gram of `text`, order by order (the order the vectorizer's columns are summed in here)."""
        if self.analyzer == "word":
            toks = self.tokens(text)
            return chain.from_iterable(
                toks if n == 1 else zip(*(toks[i:] for i in range(n)), strict=False)
                for n in range(self.ngram_min, self.ngram_max + 1)
            )
        orders = range(self.ngram_min, self.ngram_max + 1)
        return chain.from_iterable(_char_wb(text, n, self.ngram_min) for n in orders)

    def dot(self, text: str) -> float:
        """<l2-normalised tf-idf vector, coefficients> for this block."""
        # Out-of-vocabulary n-grams are dropped by a C-level `filter` before `Counter` counts the rest
        # (also in C); the counts keep the order of first occurrence, which fixes the summation order.
        terms = self.terms
        counted = Counter(filter(terms.__contains__, self.grams(text)))
        sq = 0.0
        acc = 0.0
        sublinear = self.sublinear_tf
        for entry, tf in zip(map(terms.__getitem__, counted), counted.values(), strict=True):
            if tf == 1:
                sq += entry[2]
                acc += entry[3]
            else:
                w = (1.0 + math.log(tf) if sublinear else float(tf)) * entry[0]
                sq += w * w
                acc += w * entry[1]
        return acc / math.sqrt(sq) if sq > 0.0 else 0.0


def _char_wb(text: str, n: int, n_min: int) -> Iterator[str]:
    """scikit-learn's char_wb n-grams of order n: each word padded with one space on both sides; a padded
    word shorter than n is counted once, whole, at the lowest order that reaches its length."""
    for word in _WHITE_SPACES.sub(" ", text).split():
        w = " " + word + " "
        if len(w) > n:
            for i in range(len(w) - n + 1):
                yield w[i : i + n]
        elif len(w) == n or n == n_min:
            yield w


@dataclass(frozen=True)
class LinearTextModel:
    """A trained classifier as data. `probability(text)` is P(attack)."""

    blocks: tuple[_Block, ...]
    intercept: float
    head_chars: int
    tail_chars: int
    meta: dict[str, Any]

    def prepare(self, text: str, normalized: str | None = None) -> str:
        """The string the model sees: the normalised view of the head and tail windows. `normalized`: the
        normalised view of the whole `text`, when the caller has it (it is the answer when one window
        covers the whole text, and saves normalising the text twice)."""
        if normalized is not None and len(text) <= self.head_chars + self.tail_chars:
            return normalized
        return prepare_text(text, self.head_chars, self.tail_chars)

    def logit_prepared(self, prepared: str) -> float:
        return self.intercept + sum(b.dot(prepared) for b in self.blocks)

    def probability_prepared(self, prepared: str) -> float:
        return _logistic(self.logit_prepared(prepared))

    def probability(self, text: str, normalized: str | None = None) -> float:
        return self.probability_prepared(self.prepare(text, normalized))


def windows(length: int, head_chars: int, tail_chars: int) -> list[tuple[int, int]]:
    """Original-text ranges the model reads: the whole text if it fits, else its head and tail."""
    if length <= head_chars + tail_chars:
        return [(0, length)]
    out = [(0, head_chars)]
    if tail_chars > 0:
        out.append((length - tail_chars, length))
    return out


def prepare_text(text: str, head_chars: int, tail_chars: int) -> str:
    return " ".join(normalized_view(text[s:e]).text for s, e in windows(len(text), head_chars, tail_chars))


def _logistic(z: float) -> float:
    # Two branches so that exp never overflows for a large |z|.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _require(cond: bool, what: str, source: str) -> None:
    if not cond:
        raise ConfigError(f"{source}: invalid classifier model ({what})")


def model_from_dict(data: Any, source: str = "classifier model") -> LinearTextModel:
    """Validate and build a model from its exported data; any defect is one ConfigError line."""
    _require(isinstance(data, dict), "not a JSON object", source)
    _require(data.get("format") == MODEL_FORMAT, f"format is not {MODEL_FORMAT!r}", source)
    _require(data.get("format_version") == MODEL_FORMAT_VERSION, "unsupported format_version", source)
    pre = data.get("preprocess")
    _require(isinstance(pre, dict) and pre.get("view") == "normalized", "preprocess.view must be 'normalized'", source)
    head, tail = pre.get("head_chars"), pre.get("tail_chars")
    _require(isinstance(head, int) and isinstance(tail, int) and head > 0 and tail >= 0, "head/tail chars", source)
    intercept = data.get("intercept")
    _require(isinstance(intercept, int | float) and math.isfinite(intercept), "intercept", source)
    raw_blocks = data.get("blocks")
    _require(isinstance(raw_blocks, list) and len(raw_blocks) > 0, "blocks", source)
    blocks: list[_Block] = []
    for b in raw_blocks:
        _require(isinstance(b, dict), "block is not an object", source)
        analyzer = b.get("analyzer")
        _require(analyzer in ("word", "char_wb"), f"unknown analyzer {analyzer!r}", source)
        lo, hi = b.get("ngram_range", [None, None])
        _require(isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 8, "ngram_range", source)
        token_re = None
        if analyzer == "word":
            pattern = b.get("token_pattern")
            _require(isinstance(pattern, str), "token_pattern", source)
            token_re = re.compile(pattern)
        terms, idf, coef = b.get("terms"), b.get("idf"), b.get("coef")
        _require(
            isinstance(terms, list) and isinstance(idf, list) and isinstance(coef, list),
            "terms/idf/coef must be lists",
            source,
        )
        _require(len(terms) == len(idf) == len(coef), "terms, idf and coef differ in length", source)
        _require(all(isinstance(t, str) for t in terms), "terms must be strings", source)
        _require(
            all(isinstance(x, int | float) and math.isfinite(x) for x in (*idf, *coef)), "non-finite weight", source
        )
        _require(len(set(terms)) == len(terms), "duplicate terms", source)
        # word: keyed by the token (n = 1) or the token tuple; char_wb: by the string
        table: dict[Any, tuple[float, float, float, float]] = {}
        for t, i, c in zip(terms, idf, coef, strict=True):
            key: Any = t
            if analyzer == "word":
                parts = t.split(" ")
                _require(lo <= len(parts) <= hi, f"term {t!r} does not fit ngram_range", source)
                key = t if len(parts) == 1 else tuple(parts)
            idf_f, coef_f = float(i), float(c)
            table[key] = (idf_f, coef_f, idf_f * idf_f, idf_f * coef_f)
        blocks.append(_Block(analyzer, lo, hi, token_re, bool(b.get("sublinear_tf", False)), table))
    meta = {k: v for k, v in data.items() if k not in ("blocks",)}
    return LinearTextModel(tuple(blocks), float(intercept), head, tail, meta)


def load_model(path: str | Path | None = None) -> LinearTextModel:
    """Load a model file (`.json` or `.json.gz`); None loads the built-in one (cached per process)."""
    if path is None:
        return _builtin_model()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read classifier model ({exc.strerror or exc})") from None
    return _parse(raw, str(p))


def _parse(raw: bytes, source: str) -> LinearTextModel:
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{source}: classifier model is not valid (gzipped) JSON: {exc}") from None
    return model_from_dict(data, source)


@cache
def _builtin_model() -> LinearTextModel:
    raw = resources.files("shieldstorm.detect.data").joinpath(BUILTIN_MODEL).read_bytes()
    return _parse(raw, f"shieldstorm/detect/data/{BUILTIN_MODEL}")


def corpus_digest(path: Path) -> str:
    """SHA-256 of a training corpus file, recorded in the exported model."""
    return hashlib.sha256(path.read_bytes()).hexdigest()

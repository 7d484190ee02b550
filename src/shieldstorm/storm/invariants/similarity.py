"""Text similarity: lexical (always available) or sentence embeddings (when a local model is installed).

The lexical measure is the cosine of word and character-trigram count vectors: cheap, deterministic, and
robust to reordering. Embeddings need the optional `sentence-transformers` package AND a model already on
disk (no download at run time); otherwise Storm says plainly that it used the lexical measure.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _features(text: str) -> Counter[str]:
    words = _WORD.findall(text.casefold())
    features: Counter[str] = Counter(f"w:{w}" for w in words)
    joined = " ".join(words)
    features.update(f"c:{joined[i : i + 3]}" for i in range(max(0, len(joined) - 2)))
    return features


def lexical_similarity(a: str, b: str) -> float:
    """Cosine similarity in [0, 1]; two empty texts are identical (1.0)."""
    fa, fb = _features(a), _features(b)
    if not fa and not fb:
        return 1.0
    if not fa or not fb:
        return 0.0
    dot = sum(count * fb[key] for key, count in fa.items() if key in fb)
    norm = math.sqrt(sum(v * v for v in fa.values())) * math.sqrt(sum(v * v for v in fb.values()))
    return dot / norm if norm else 0.0


def ngram_containment(source: str, output: str, n: int = 4) -> float:
    """Share of `source`'s word n-grams that appear in `output` (how much of a secret text leaked)."""
    src = _WORD.findall(source.casefold())
    out = _WORD.findall(output.casefold())
    if len(src) < n:
        return 1.0 if src and " ".join(src) in " ".join(out) else 0.0
    grams = {tuple(src[i : i + n]) for i in range(len(src) - n + 1)}
    out_grams = {tuple(out[i : i + n]) for i in range(len(out) - n + 1)}
    return len(grams & out_grams) / len(grams)


@dataclass(frozen=True)
class SimilarityBackend:
    mode: str  # "lexical" or "embedding:<model>"
    score: Callable[[str, str], float]


def _load_embedding(model_name: str) -> SimilarityBackend | None:
    try:
        from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        model: Any = SentenceTransformer(model_name, local_files_only=True)
    except Exception:  # model not on disk (or broken): fall back, and say so in the run's similarity_mode
        return None

    @functools.lru_cache(maxsize=4096)
    def embed(text: str) -> Any:
        return model.encode(text, normalize_embeddings=True)

    def score(a: str, b: str) -> float:
        return max(0.0, min(1.0, float(embed(a) @ embed(b))))

    return SimilarityBackend(mode=f"embedding:{model_name}", score=score)


@functools.cache
def backend(mode: str = "auto", model_name: str = DEFAULT_EMBEDDING_MODEL) -> SimilarityBackend:
    """`lexical`, `embedding` (error if unavailable) or `auto` (embedding if installed locally, else lexical)."""
    if mode in ("auto", "embedding"):
        found = _load_embedding(model_name)
        if found is not None:
            return found
        if mode == "embedding":
            from shieldstorm.errors import ConfigError

            raise ConfigError(
                f"similarity mode 'embedding' needs sentence-transformers and the model {model_name!r} on disk; "
                "use mode: lexical or auto"
            )
    return SimilarityBackend(mode="lexical", score=lexical_similarity)

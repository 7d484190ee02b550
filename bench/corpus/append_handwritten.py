"""Append new hand-written DEV texts (`handwritten/*_dev.yaml`, dev rows of `benign_multilingual.yaml`) to dev.jsonl.

A full rebuild (`build.py`) re-reads the METADATA prose of whatever packages the build interpreter has
installed, which would change the benign sets; this adds only the hand-written dev texts that are not in
`dev.jsonl` yet (case/whitespace-folded, as `build.py` deduplicates), with ids continuing the numbering.
The holdout file is never touched. Running it twice adds nothing the second time.

    python bench/corpus/append_handwritten.py
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _build_module():  # type: ignore[no-untyped-def]
    # build.py is a script, not a package module: load it by path to reuse its hand-written reader.
    spec = importlib.util.spec_from_file_location("corpus_build", HERE / "build.py")
    if spec is None or spec.loader is None:
        raise SystemExit("error: cannot load bench/corpus/build.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["corpus_build"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


def append(path: Path = HERE / "dev.jsonl") -> int:
    build = _build_module()
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    seen = {" ".join(r["text"].lower().split()) for r in rows}
    n = max(int(r["id"].rsplit("-", 1)[1]) for r in rows) + 1
    added = 0
    with path.open("a", encoding="utf-8") as fh:
        for it in build._handwritten():
            key = " ".join(it.text.lower().split())
            if it.split != "dev" or not key or key in seen:
                continue
            seen.add(key)
            fh.write(it.json_line(f"dev-{n:05d}"))
            n += 1
            added += 1
    return added


def main() -> None:
    print(f"dev: {append()} hand-written texts appended", file=sys.stderr)


if __name__ == "__main__":
    main()

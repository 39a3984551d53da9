"""Parse one PDF in a child process: `python -m ingest.pdf_worker FILE` -> JSON on stdout.

Runs under an address-space limit; prints `ERROR: <reason>` on stderr and exits 2
on a PDF it cannot read.
"""
from __future__ import annotations

import json
import os
import resource
import sys


def main(path: str) -> int:
    limit = int(os.environ.get("KB_PDF_MEMORY", str(2 * 1024 ** 3)))
    max_chars = int(os.environ.get("KB_PDF_MAX_PAGE_CHARS", "200000"))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        from pypdf.errors import LimitReachedError
    except ImportError:  # older pypdf
        class LimitReachedError(Exception):
            pass
    try:
        import pypdf
        from pypdf.errors import PdfReadError, FileNotDecryptedError

        reader = pypdf.PdfReader(path, strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                print("ERROR: encrypted PDF (needs a password)", file=sys.stderr)
                return 2
        pages = []
        for i, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            pages.append({"number": i, "text": text[:max_chars]})
        meta = {}
        info = reader.metadata or {}
        if info.get("/Title"):
            meta["title"] = str(info["/Title"])
        if info.get("/Author"):
            meta["author"] = str(info["/Author"])
    except MemoryError:
        print("ERROR: MemoryError: PDF needs more memory than allowed (decompression bomb?)", file=sys.stderr)
        return 3
    except RecursionError:
        print("ERROR: PDF structure is recursive (looping references)", file=sys.stderr)
        return 2
    except LimitReachedError:
        print("ERROR: a PDF stream decompresses beyond the allowed size (decompression bomb?)", file=sys.stderr)
        return 3
    except (FileNotDecryptedError,) as exc:
        print(f"ERROR: encrypted PDF: {exc}", file=sys.stderr)
        return 2
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError) as exc:
        print(f"ERROR: broken PDF: {type(exc).__name__}: {exc}".replace("\n", " ")[:300], file=sys.stderr)
        return 2
    except Exception as exc:  # pypdf raises many kinds on hostile input
        print(f"ERROR: unreadable PDF: {type(exc).__name__}: {exc}".replace("\n", " ")[:300], file=sys.stderr)
        return 2
    json.dump({"pages": pages, "meta": meta}, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

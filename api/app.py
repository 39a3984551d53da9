"""The HTTP API: thin routes over the one `KnowledgeBase` opened at start-up.

`create_app(settings)` builds the FastAPI app; `kb serve` runs it with uvicorn. The
knowledge base is opened and warmed up once in the lifespan and kept on `app.state`;
routes are plain `def` functions, so FastAPI runs them in its threadpool. Library
errors (`kb.errors`) become HTTP statuses in one place: the exception handlers below.
"""
from __future__ import annotations

import json
import logging
import os
import time
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import (MAX_K, MAX_QUERY_CHARS, MAX_YEAR, MIN_YEAR, AskRequest, AskResponse, DocType, Domain,
                         DocumentDetail, DocumentSummary, Facets, Health, Indicator, Instrument, Kind, Mode, Passage,
                         Policy, Problem, SearchResponse, Timeline)
from kb.errors import (BadInput, DamagedKnowledgeBase, EmbedderUnavailable, EmptyKnowledgeBase, IndexMismatch,
                       KBError, NotFound, ReadOnlyDataDir, as_kb_error)
from kb.settings import Settings, get_settings

log = logging.getLogger("api")
access_log = logging.getLogger("api.access")

MAX_BODY_BYTES = 64 * 1024
MAX_DETAIL_CHARS = 300
EMPTY_DETAIL = "the knowledge base is empty: run `kb ingest` first (or serve another --data-dir)"


# ------------------------------------------------------------------ logging

class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any structured fields."""
    FIELDS = ("method", "route", "status", "latency_ms")

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        out.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _configure_logging() -> None:
    """Give the `api` logger a handler unless the host application configured logging itself."""
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    # uvicorn's access log prints the full URL, query text included; ours replaces it.
    logging.getLogger("uvicorn.access").disabled = True


# ------------------------------------------------------------------ middleware

class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                return await _send_json(send, 400, "invalid Content-Length header")
            if too_big:
                return await _send_json(send, 413, f"request body too large (limit {self.max_bytes} bytes)")
            return await self.app(scope, receive, send)
        # No Content-Length (chunked): buffer up to the limit, then replay.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _send_json(send, 413, f"request body too large (limit {self.max_bytes} bytes)")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class HeadAsGetMiddleware:
    """HEAD is answered wherever GET is (RFC 9110): the GET route runs and its body is dropped."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        return await self.app({**scope, "method": "GET"}, receive, headers_only)


async def _send_json(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _route_of(request: Request) -> str:
    """The route template (/passages/{passage_id}), never the query string."""
    route = getattr(request.scope.get("route"), "path", None)
    if route:
        return route
    return request.url.path if request.scope.get("endpoint") else "<unmatched>"


async def log_requests(request: Request, call_next):
    """Structured access log: method, route template, status, latency. Never the query text at info."""
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        ms = round((time.perf_counter() - start) * 1000, 1)
        route = _route_of(request)
        access_log.info("%s %s %s %.1fms", request.method, route, status, ms,
                        extra={"method": request.method, "route": route, "status": status, "latency_ms": ms})
        if log.isEnabledFor(logging.DEBUG) and request.url.query:
            access_log.debug("query string %s", request.url.query)


# ------------------------------------------------------------------ errors (the one place)

ERROR_STATUS: list[tuple[type[KBError], int]] = [
    (EmptyKnowledgeBase, 503),
    (DamagedKnowledgeBase, 503),
    (ReadOnlyDataDir, 503),
    (IndexMismatch, 503),
    (EmbedderUnavailable, 503),
    (NotFound, 404),
    (BadInput, 422),        # includes UnknownFilterValue
    (KBError, 400),
]


def status_for(exc: KBError) -> int:
    return next(code for cls, code in ERROR_STATUS if isinstance(exc, cls))


def _problem(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": clip(detail)}, status_code=status, headers=headers)


def clip(detail: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """One line of at most `limit` characters: a 10,000-character id is not echoed back whole."""
    detail = " ".join(str(detail).split())
    return detail if len(detail) <= limit else detail[: limit - 1] + "…"


def public(detail: str, settings: Settings | None) -> str:
    """The server's own paths (its data directory) are not the client's business."""
    if settings is not None:
        for path in sorted({str(settings.data_dir), str(settings.data_dir.resolve())}, key=len, reverse=True):
            detail = detail.replace(path, "the data directory")
    return detail


async def kb_error_handler(request: Request, exc: KBError) -> JSONResponse:
    status = status_for(exc)
    detail = EMPTY_DETAIL if isinstance(exc, EmptyKnowledgeBase) and not str(exc) else exc.one_line()
    detail = public(detail, getattr(request.app.state, "settings", None))
    return _problem(status, detail, {"Retry-After": "60"} if status == 503 else None)


def _describe(error: dict) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    where = ".".join(loc)
    if error.get("type") == "json_invalid":
        return f"malformed JSON body: {error.get('ctx', {}).get('error', 'cannot parse')}"
    if error.get("type") == "missing" and not loc:
        return "missing JSON body"
    if error.get("type") == "model_attributes_type" or (error.get("type", "").endswith("_type") and not loc):
        return "request body must be a JSON object"
    if error.get("type") == "extra_forbidden":
        return f"unknown field {where!r}"
    return f"{where}: {error.get('msg', 'invalid value')}" if where else error.get("msg", "invalid request")


async def validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    detail = "; ".join(dict.fromkeys(_describe(e) for e in errors)) or "invalid request"
    return _problem(422, detail)


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return _problem(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


async def unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    named = as_kb_error(exc)
    if named is not None and named is not exc:   # disk full, read-only, damaged file: one line, 503
        log.error("%s %s: %s", request.method, _route_of(request), named.one_line())
        return await kb_error_handler(request, named)
    log.exception("unhandled error on %s %s", request.method, _route_of(request))
    return _problem(500, "internal error (logged on the server)")


# ------------------------------------------------------------------ dependencies

def get_kb(request: Request):
    """The generation served now (it follows `kb ingest`); 503 when there is none or it is damaged."""
    live = request.app.state.live
    if live is None:
        raise EmptyKnowledgeBase(EMPTY_DETAIL)
    return live.get()


KB = Annotated[object, Depends(get_kb)]


def filter_params(
    kind: Annotated[Kind | None, Query(description="Kind of section.")] = None,
    domain: Annotated[Domain | None, Query(description="Waste domain.")] = None,
    region: Annotated[str | None, Query(max_length=100, description="Region, Chinese or English (贵州省, Guizhou); "
                                                                    "includes its cities and counties.")] = None,
    year: Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="A year the passage speaks of.")] = None,
    instrument: Annotated[Instrument | None, Query(description="Policy instrument.")] = None,
    doc_year: Annotated[int | None, Query(ge=1900, le=2100,
                                          description="The year of the document (e.g. the 2024 work report).")] = None,
    doc_type: Annotated[DocType | None, Query(description="Kind of document.")] = None,
) -> dict:
    return {k: v for k, v in dict(kind=kind, domain=domain, region=region, year=year, instrument=instrument,
                                  doc_year=doc_year, doc_type=doc_type).items() if v is not None}


FilterParams = Annotated[dict, Depends(filter_params)]

ERRORS = {404: {"model": Problem, "description": "Unknown id."},
          422: {"model": Problem, "description": "Invalid input; `detail` names the problem."},
          503: {"model": Problem, "description": "No knowledge base yet: run `kb ingest`."}}


# ------------------------------------------------------------------ routes

router = APIRouter()


@router.get("/health", response_model=Health, tags=["service"], summary="Service status and counts")
def health(request: Request) -> dict:
    live = request.app.state.live
    if live is None:
        return {"status": "empty", "documents": 0, "passages": 0, "detail": EMPTY_DETAIL}
    out = live.health()
    if out["status"] == "empty":
        out["detail"] = EMPTY_DETAIL
    if out.get("detail"):
        out["detail"] = clip(public(out["detail"], request.app.state.settings))
    return out


@router.get("/search", response_model=SearchResponse, tags=["search"], responses=ERRORS,
            summary="Ranked passages for a Chinese or English query")
def search(
    kb: KB,
    filters: FilterParams,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS,
                            description="Query, Chinese or English (e.g. 磷石膏, phosphogypsum).")],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many passages to return.")] = 10,
    mode: Annotated[Mode, Query(description="Retrieval: hybrid (BM25 + dense, fused), bm25 or dense.")] = "hybrid",
    translate: Annotated[bool, Query(description="Translate / expand the query before searching.")] = True,
    diverse: Annotated[bool, Query(description="Spread results across regions and cases.")] = False,
) -> dict:
    return kb.search(q, k=k, mode=mode, filters=filters, translate=translate, diverse=diverse)


ANSWER_FORMATS = {"markdown": "text/markdown; charset=utf-8",
                  "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


@router.post("/ask", response_model=AskResponse, tags=["search"], responses={
    **ERRORS, 413: {"model": Problem},
    200: {"content": {"application/json": {}, "text/markdown": {}, ANSWER_FORMATS["docx"]: {}},
          "description": "The answer (JSON), or with `format` the answer with GB/T 7714 references."}},
             summary="An extractive answer, every statement with its citation")
def ask(kb: KB, body: AskRequest,
        format: Annotated[Literal["json", "markdown", "docx"],
                          Query(description="json (default); markdown or docx: the answer with numbered "
                                            "GB/T 7714 references, ready to paste.")] = "json"):
    from kb.answer import answer
    from kb.export import to_docx, to_markdown

    filters = body.filters.model_dump(exclude_none=True)
    result = answer(kb, body.question, k=body.k, filters=filters)
    if format == "markdown":
        return Response(to_markdown(result), media_type=ANSWER_FORMATS["markdown"])
    if format == "docx":
        return Response(to_docx(result), media_type=ANSWER_FORMATS["docx"],
                        headers={"Content-Disposition": 'attachment; filename="answer.docx"'})
    return result


@router.get("/timeline", response_model=Timeline, tags=["search"], responses=ERRORS,
            summary="Per document year: matching passages and the best one, with its citation")
def timeline(
    kb: KB,
    filters: FilterParams,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS,
                            description="Query, Chinese or English (e.g. 垃圾分类, waste sorting).")],
    translate: Annotated[bool, Query(description="Translate / expand the query before searching.")] = True,
) -> dict:
    return kb.timeline(q, filters=filters, translate=translate)


@router.get("/passages/{passage_id}", response_model=Passage, tags=["browse"], responses=ERRORS,
            summary="One passage with its neighbours' ids")
def passage(kb: KB, passage_id: Annotated[str, Path(description="Passage id, as in search results.")]) -> dict:
    return kb.passage(passage_id)


@router.get("/documents", response_model=list[DocumentSummary], tags=["browse"], responses=ERRORS,
            summary="Documents in the knowledge base")
def documents(kb: KB) -> list[dict]:
    return kb.documents()


@router.get("/documents/{doc_id}", response_model=DocumentDetail, tags=["browse"], responses=ERRORS,
            summary="One document with its section tree")
def document(kb: KB, doc_id: Annotated[str, Path(description="Document id.")]) -> dict:
    return kb.document(doc_id)


@router.get("/facets", response_model=Facets, tags=["browse"], responses=ERRORS,
            summary="Passage counts per tag value, for filters")
def facets(kb: KB, filters: FilterParams) -> dict:
    return kb.facets(filters)


@router.get("/policies", response_model=list[Policy], tags=["browse"], responses=ERRORS,
            summary="Policy instruments named in the corpus")
def policies(
    kb: KB,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS,
                                   description="Text in the title, issuer or document number.")] = None,
    region: Annotated[str | None, Query(max_length=100, description="Region, Chinese or English.")] = None,
    year: Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR,
                                      description="Year of issue (or in the title / number).")] = None,
) -> list[dict]:
    return kb.policies(q=q, region=region, year=year)


@router.get("/indicators", response_model=list[Indicator], tags=["browse"], responses=ERRORS,
            summary="The report's indicator table as rows")
def indicators(kb: KB) -> list[dict]:
    return kb.indicators()


# ------------------------------------------------------------------ factory

def _cors_origins(value: str | None) -> list[str]:
    return [o.strip() for o in (value or "").split(",") if o.strip()]


def create_app(settings: Settings | None = None, *, cors_origins: list[str] | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API over the knowledge base in `settings.data_dir` (default: from the environment).

    CORS is closed unless origins are given here or in KB_CORS_ORIGINS (comma-separated).
    """
    settings = settings or get_settings()
    origins = cors_origins if cors_origins is not None else _cors_origins(os.environ.get("KB_CORS_ORIGINS"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from kb.live import LiveKnowledgeBase

        _configure_logging()
        start = time.perf_counter()
        live = LiveKnowledgeBase(settings).start()   # stays up on an empty or damaged data directory
        app.state.live = live
        try:
            from kb.answer import warm_up as warm_answers
            warm_answers(live.get())
        except KBError:
            pass   # nothing to answer from yet: /health says why
        log.info("started in %.1fs: %s", time.perf_counter() - start, live.health())
        yield
        app.state.live = None
        live.close()

    app = FastAPI(
        title="Zero-waste cities knowledge base",
        version="0.1.0",
        description="Hybrid (BM25 + dense), cross-lingual search and cited answers over Chinese "
                    "environmental policy reports. Errors are JSON `{\"detail\": \"...\"}`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.live = None
    app.include_router(router)

    app.add_exception_handler(KBError, kb_error_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_handler)

    app.middleware("http")(log_requests)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"], max_age=600)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(HeadAsGetMiddleware)
    return app

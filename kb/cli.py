"""`kb` command line: thin wrappers over the library; errors become one line on stderr."""
from __future__ import annotations

import json
import os
import sys
from functools import wraps
from pathlib import Path

import click

from kb.errors import KBError, as_kb_error
from kb.settings import settings_from_env


def _settings(data_dir: str | None):
    return settings_from_env(data_dir=data_dir)


def _debug() -> bool:
    """KB_DEBUG=1: let errors through with their traceback (for bug reports)."""
    return os.environ.get("KB_DEBUG", "") not in ("", "0")


def friendly(fn):
    """Named errors (and Ctrl-C) end with a one-line message and a non-zero exit, never a traceback."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KBError as exc:
            if _debug():
                raise
            raise click.ClickException(exc.one_line()) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
    return wrapper


data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="Data directory (default: $KB_DATA_DIR or data/).")


def filter_options(fn):
    for name, help_text in reversed([
        ("--kind", "Kind of section (national_directive, case_study, ...)."),
        ("--domain", "Domain (industrial, agricultural, household, construction, hazardous, recycling, cross_cutting)."),
        ("--region", "Region, Chinese or English (贵州省, Guizhou); includes its cities and counties."),
        ("--year", "A year the passage speaks of."),
        ("--instrument", "Policy instrument (law, plan, standard, fiscal, platform, ...)."),
        ("--doc-year", "The year of the document (e.g. 2024: the 2024 work report, the 2024 report)."),
        ("--doc-type", "Kind of document (report, work_report, speech, policy_notice, other)."),
    ]):
        fn = click.option(name, default=None, help=help_text)(fn)
    return fn


def _filters(kind=None, domain=None, region=None, year=None, instrument=None, doc_year=None, doc_type=None) -> dict:
    return {k: v for k, v in dict(kind=kind, domain=domain, region=region, year=year, instrument=instrument,
                                  doc_year=doc_year, doc_type=doc_type).items() if v}


class OneLineErrors(click.Group):
    """The one error boundary: usage errors, named errors and known system failures (disk full,
    read-only file system) end in one line on stderr and exit 1; anything else too, with its
    traceback only when KB_DEBUG=1."""

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:   # the boundary: one line, never a traceback
            if _debug():
                raise
            named = as_kb_error(exc)
            if named is not None:
                message = named.one_line()
            else:
                text = " ".join(str(exc).split())[:300]
                message = (f"unexpected {type(exc).__name__}: {text} "
                           "(a bug: run again with KB_DEBUG=1 for the traceback and report it)")
            click.echo(f"Error: {message}", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=OneLineErrors)
def main():
    """Knowledge base over Chinese environmental policy reports: ingest, search, ask, serve."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--remove", "remove", multiple=True, help="Remove a document (doc id or path). Repeatable.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@data_dir_option
@friendly
def ingest(paths, remove, quiet, data_dir):
    """Ingest files or folders (default corpus/): .txt, .md, .pdf."""
    from kb.build import ingest as run

    settings = _settings(data_dir)
    report = run(settings, [Path(p) for p in paths] if paths else None, list(remove), show_progress=not quiet)
    for err in report.errors:
        click.echo(f"error: {err}", err=True)
    for note in report.skipped:
        click.echo(f"skipped: {note}", err=True)
    if report.changed:
        moved = f", moved {len(report.moved)}" if report.moved else ""
        click.echo(f"added {len(report.added)}, updated {len(report.updated)}, removed {len(report.removed)}{moved}, "
                   f"unchanged {len(report.unchanged)} document(s); {report.passages} passages in "
                   f"{report.seconds:.1f}s (generation {report.generation})")
    else:
        click.echo(f"nothing changed ({len(report.unchanged)} document(s) up to date, {report.passages} passages)")
    if report.errors:
        sys.exit(1)


@main.command()
@click.argument("query")
@click.option("--k", default=10, show_default=True, type=int)
@click.option("--mode", default="hybrid", type=click.Choice(["hybrid", "bm25", "dense"]), show_default=True)
@click.option("--no-translate", is_flag=True, help="Search the query as typed (no translation or expansion).")
@click.option("--diverse", is_flag=True, help="Spread results across regions and cases.")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result.")
@data_dir_option
@friendly
def search(query, k, mode, no_translate, diverse, as_json, data_dir, **filters):
    """Ranked passages for a Chinese or English query."""
    from kb.render import print_results
    from kb.search import KnowledgeBase

    kb = KnowledgeBase.open(_settings(data_dir))
    result = kb.search(query, k=k, mode=mode, filters=_filters(**filters), translate=not no_translate, diverse=diverse)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print_results(result)


@main.command()
@click.argument("question")
@click.option("--k", default=8, show_default=True, type=int)
@filter_options
@click.option("--json", "as_json", is_flag=True)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "docx"]), default="text", show_default=True,
              help="markdown / docx: the answer with numbered GB/T 7714 references, ready to paste.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the answer here (default for docx: answer.docx; markdown: stdout).")
@data_dir_option
@friendly
def ask(question, k, as_json, fmt, output, data_dir, **filters):
    """An answer built from passages, every statement with its citation."""
    from kb.answer import answer
    from kb.export import to_docx, to_markdown
    from kb.render import print_answer
    from kb.search import KnowledgeBase

    kb = KnowledgeBase.open(_settings(data_dir))
    result = answer(kb, question, k=k, filters=_filters(**filters))
    if fmt == "docx":
        target = Path(output or "answer.docx")
        try:
            target.write_bytes(to_docx(result))
        except OSError as exc:
            raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
        click.echo(f"wrote {target}")
    elif fmt == "markdown":
        text = to_markdown(result)
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
            click.echo(f"wrote {output}")
        else:
            click.echo(text, nl=False)
    elif as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print_answer(result)


@main.command()
@click.argument("query")
@click.option("--no-translate", is_flag=True, help="Search the query as typed (no translation or expansion).")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result.")
@data_dir_option
@friendly
def timeline(query, no_translate, as_json, data_dir, **filters):
    """Per document year: matching passages and the best one, with its citation."""
    from kb.render import print_timeline
    from kb.search import KnowledgeBase

    kb = KnowledgeBase.open(_settings(data_dir))
    result = kb.timeline(query, filters=_filters(**filters), translate=not no_translate)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print_timeline(result)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@data_dir_option
@friendly
def serve(host, port, data_dir):
    """The HTTP API (FastAPI; docs at /docs)."""
    if data_dir:
        os.environ["KB_DATA_DIR"] = str(data_dir)
    settings = settings_from_env()
    if settings.serve_threads > 0:
        # before any model library loads: OpenMP reads it once (an explicit OMP_NUM_THREADS wins)
        os.environ.setdefault("OMP_NUM_THREADS", str(settings.serve_threads))
    from api.app import create_app
    from api.serving import run

    run(create_app(settings), host=host, port=port)


@main.command()
@click.option("--port", default=8501, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@data_dir_option
@friendly
def ui(port, host, data_dir):
    """The Streamlit explorer."""
    env = dict(os.environ)
    if data_dir:
        env["KB_DATA_DIR"] = str(Path(data_dir).resolve())
    env.setdefault("STREAMLIT_CLIENT_TOOLBAR_MODE", "minimal")   # no "Deploy" button for the explorer's users
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
           "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: a terminated `kb ui` is Streamlit itself, so no orphan keeps the port
    os.execve(sys.executable, cmd, env)


@main.group()
def feedback():
    """Answer feedback (thumbs up / down and comments) given in the explorer."""


@feedback.command(name="export")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write JSONL here (default: stdout).")
@data_dir_option
@friendly
def feedback_export(out, data_dir):
    """Every rated answer as one JSON line: question, answer, cited passages, rating, comment."""
    from kb.conversations import ConversationStore, store_path

    path = store_path(_settings(data_dir).data_dir)
    rows = list(ConversationStore(path).export_feedback()) if path.exists() else []
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out:
        Path(out).write_text(lines, encoding="utf-8")
        click.echo(f"{len(rows)} rated answer(s) written to {out}", err=True)
    else:
        click.echo(lines, nl=False)


@main.command(name="eval")
@click.option("--set", "set_names", multiple=True,
              help="Registered query set(s) by name: gold (tuning), heldout, heldout_fresh (held-out). "
                   "Default: every registered set present.")
@click.option("--gold", "gold", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="An extra query file in the anchor format, reported as its own set (role 'extra').")
@click.option("--json", "as_json", is_flag=True)
@click.option("--chart", type=click.Path(dir_okay=False), default=None, help="Write a PNG chart here.")
@click.option("--modes", default="bm25,dense,hybrid", show_default=True)
@click.option("--save", type=click.Path(dir_okay=False), default=None,
              help="Write the runs, qrels and settings to this JSON file (for --compare).")
@click.option("--compare", nargs=2, type=click.Path(exists=True, dir_okay=False), default=None,
              help="Compare two --save files A B: means, B-A and paired p-values per set (no search).")
@click.option("--answers", is_flag=True, help="Evaluate answers instead: place recall, answer and refusal rates "
                                              "(eval/offtopic.jsonl: the first gold set with its tune half, others "
                                              "with its held-out half), citation precision, English gist coverage.")
@data_dir_option
@friendly
def eval_(set_names, gold, as_json, chart, modes, save, compare, answers, data_dir):
    """Retrieval accuracy per query set, mode, language and query type.

    Graded passage relevance from the anchors, metrics by ranx; each set (tuning, held-out) on its own."""
    from kb import evaluate as ev

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    if bad := [m for m in mode_list if m not in ev.MODES]:
        raise click.UsageError(f"unknown mode(s) {', '.join(bad)}: use {', '.join(ev.MODES)}")
    if compare:
        a, b = (ev.load_report(Path(f)) for f in compare)
        configs = [name for name, mode, _ in ev.config_names(mode_list, (True, False))]
        result = ev.compare_reports(a, b, configs)
        click.echo(json.dumps(result, ensure_ascii=False, indent=1) if as_json
                   else ev.format_comparison(result, compare[0], compare[1]))
        return
    from kb.search import KnowledgeBase

    if answers:
        from kb.answer_eval import EVAL, evaluate_answers, format_answers

        kb = KnowledgeBase.open(_settings(data_dir))
        real = [Path(g) for g in gold] or [EVAL / "gold.jsonl", EVAL / "heldout.jsonl", EVAL / "heldout_fresh.jsonl"]
        report = evaluate_answers(kb, real, EVAL / "offtopic.jsonl")
        click.echo(json.dumps(report, indent=1) if as_json else format_answers(report))
        return
    try:
        sets = [ev.query_set(n) for n in set_names]
    except KeyError as exc:
        raise click.UsageError(f"unknown set {exc}: one of {', '.join(s.name for s in ev.QUERY_SETS)}") from None
    sets += [ev.QuerySet(Path(g).stem, Path(g).resolve(), "extra") for g in gold]
    if not sets:
        sets = [s for s in ev.QUERY_SETS if s.path.exists()]
    kb = KnowledgeBase.open(_settings(data_dir)).warm_up()   # models loaded before timing searches
    report = ev.run_eval(kb, sets, modes=mode_list, progress=lambda msg: click.echo(msg, err=True))
    if save:
        ev.save_report(report, Path(save))
    if chart:
        ev.write_chart(report, Path(chart))
    if as_json:
        click.echo(json.dumps({"settings": report["settings"], "k": report["k"], "metrics": report["metrics"],
                               "sets": {n: {k: e[k] for k in ("role", "path", "unjudged", "anchors_missing",
                                                              "ceiling", "median_ms", "figures")}
                                        for n, e in report["sets"].items()}}, ensure_ascii=False, indent=1))
    else:
        click.echo(ev.format_table(report))


if __name__ == "__main__":
    main()

"""Bounded load test of GET /search on loopback.

Starts `kb serve` on a free port over --data-dir (or targets --url), sends queries from N
concurrent clients for a fixed time, then prints throughput, latency percentiles, errors and the
server's RSS and CPU per request. Stops by itself (time and request count are both bounded).

By default no query is sent twice in a run (warm-up included): the pool is every question of the
eval sets (gold, heldout, heldout_fresh, offtopic) followed by systematic variations built from the
glossary's terms of the field and the gazetteer's places (a topic with a place, a year or both, in
Chinese, English or mixed), shuffled with a fixed seed. When the pool runs out the clients stop, so
a cache of repeated questions can never make the figure. `--repeat` is the old mode: the queries of
--gold round robin.

    python eval/load_test.py --data-dir /tmp/kbapi            # 8 clients, 30 s, unique queries
    python eval/load_test.py --data-dir /tmp/kbapi --repeat   # gold queries round robin
    python eval/load_test.py --url http://127.0.0.1:8000 --pid 1234
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.process import start_server, stop_server  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
EVAL_SETS = ("gold", "heldout", "heldout_fresh", "offtopic")
TOPIC_KINDS = {"waste", "facility", "process", "policy", "indicator", "action"}
PLACE_LEVELS = {"province", "city", "district"}
YEARS = range(2018, 2028)


def gold_queries(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line)["query"])
    if not out:
        raise SystemExit(f"no queries in {path}")
    return out


def eval_questions(eval_dir: Path = ROOT / "eval") -> list[str]:
    """Every question of the eval sets, each once, in file order."""
    out: dict[str, None] = {}
    for name in EVAL_SETS:
        path = eval_dir / f"{name}.jsonl"
        if path.exists():
            for q in gold_queries(path):
                out.setdefault(q.strip(), None)
    return list(out)


def _tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def variation_parts(data_dir: Path = ROOT / "kb" / "data") -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(topics, places) as (English, Chinese) pairs: terms of the field from the glossary, places with an
    English name from the gazetteer."""
    topics = {}
    for row in _tsv(data_dir / "glossary.tsv"):
        en, zh = (row.get("en") or "").strip(), (row.get("zh") or "").split("|")[0].strip()
        if row.get("kind") in TOPIC_KINDS and en and zh and 2 <= len(en.split()) <= 5:
            topics.setdefault(en, zh)
    places = {}
    for row in _tsv(data_dir / "gazetteer.tsv"):
        zh, en = (row.get("name") or "").strip(), (row.get("en") or "").strip()
        if row.get("level") in PLACE_LEVELS and zh and en:
            places.setdefault(zh, en)
    return list(topics.items()), [(en, zh) for zh, en in places.items()]


TEMPLATES = (   # (topic en, topic zh, place en, place zh, year): a query as a user would type it
    lambda te, tz, pe, pz, y: f"{pz}{tz}",
    lambda te, tz, pe, pz, y: f"{pz}{y}年{tz}情况",
    lambda te, tz, pe, pz, y: f"{tz} {y}年目标",
    lambda te, tz, pe, pz, y: f"{te} in {pe}",
    lambda te, tz, pe, pz, y: f"how does {pe} handle {te}?",
    lambda te, tz, pe, pz, y: f"{te} targets for {y}",
    lambda te, tz, pe, pz, y: f"{te} {pz}",
    lambda te, tz, pe, pz, y: f"{pe} {tz}",
)


def unique_pool(size: int, seed: int = 11) -> list[str]:
    """`size` distinct queries (compared case- and space-insensitively): the eval questions shuffled, then
    variations (a question with a place, a topic with a place and / or a year), deterministic for a seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    pool: list[str] = []

    def add(q: str) -> None:
        key = " ".join(q.casefold().split())
        if key not in seen:
            seen.add(key)
            pool.append(q)

    questions = eval_questions()
    rng.shuffle(questions)
    for q in questions[:size]:
        add(q)
    topics, places = variation_parts()
    tries = 0
    while len(pool) < size and tries < 20 * size:
        tries += 1
        pe, pz = rng.choice(places)
        if rng.random() < 0.2:      # an eval question narrowed to a place
            q = rng.choice(questions).rstrip("?？ ")
            add(f"{q} in {pe}" if q.isascii() else f"{pz}{q}")
        else:
            (te, tz), y = rng.choice(topics), rng.choice(YEARS)
            add(rng.choice(TEMPLATES)(te, tz, pe, pz, y))
    return pool


class QuerySource:
    """Thread-safe supply of queries: round robin over a list, or each of a pool once (None when spent)."""

    def __init__(self, queries: list[str], unique: bool):
        self.queries, self.unique = queries, unique
        self._lock = threading.Lock()
        self.sent = 0
        self.spent = False

    def next(self) -> str | None:
        with self._lock:
            if self.unique and self.sent >= len(self.queries):
                self.spent = True
                return None
            self.sent += 1
            return self.queries[(self.sent - 1) % len(self.queries)]

    def distinct_sent(self) -> int:
        """Distinct texts among those handed out (case- and space-insensitive), counted, not assumed."""
        sent = self.queries[: min(self.sent, len(self.queries))]
        return len({" ".join(q.casefold().split()) for q in sent})


def start(data_dir: str, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`kb serve` on a free loopback port, its output discarded (a 30 s run logs thousands of lines)."""
    try:
        proc, url = start_server(data_dir, extra_env, timeout=300.0, output=subprocess.DEVNULL)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    health = httpx.get(url + "/health", timeout=10).json()
    if health.get("status") != "ok":
        stop_server(proc)
        raise SystemExit(f"knowledge base not ready: {health}")
    return proc, url


def rss_kib(pid: int) -> tuple[int | None, int | None]:
    """(current RSS, peak RSS) in KiB: psutil if installed, else /proc/<pid>/status."""
    try:
        import psutil  # optional

        info = psutil.Process(pid).memory_info()
        peak = getattr(info, "peak_wset", None)
        cur = info.rss // 1024
    except ImportError:
        cur = peak = None
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
        cur = cur or int(fields["VmRSS"].split()[0])
        peak = int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        pass
    return cur, peak


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), independent of other load on the host."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return None


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def run(url: str, queries: QuerySource, clients: int, seconds: float, k: int, mode: str) -> dict:
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def worker():
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.monotonic() < stop_at:
                q = queries.next()
                if q is None:   # the pool of unique queries is spent
                    break
                t0 = time.perf_counter()
                try:
                    r = client.get("/search", params={"q": q, "k": k, "mode": mode})
                    ok = r.status_code == 200 and r.json().get("results") is not None
                    err = None if ok else f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    err = f"{type(exc).__name__}: {exc}"
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(ms)
                    if err:
                        errors.append(err)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {"clients": clients, "seconds": round(wall, 1), "requests": len(lat), "errors": len(errors),
            "error_samples": errors[:3], "throughput_rps": round(len(lat) / wall, 1),
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1), "max_ms": round(lat[-1], 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 1) if lat else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="Target a running server (loopback only) instead of starting one.")
    ap.add_argument("--pid", type=int, help="With --url: the server's process id, for its peak RSS.")
    ap.add_argument("--data-dir", default=os.environ.get("KB_DATA_DIR", str(ROOT / "data")),
                    help="Data directory of the server started here (default $KB_DATA_DIR or data/).")
    ap.add_argument("--repeat", action="store_true",
                    help="Old mode: the queries of --gold round robin (repeats), instead of never-repeating ones.")
    ap.add_argument("--gold", default=str(ROOT / "eval" / "gold.jsonl"),
                    help="With --repeat: the queries (JSON lines with 'query').")
    ap.add_argument("--pool", type=int, default=20000, help="Unique mode: queries in the pool (at most one run's).")
    ap.add_argument("--seed", type=int, default=11, help="Unique mode: shuffle and variation seed.")
    ap.add_argument("--clients", type=int, default=8, help="Concurrent clients (1-64).")
    ap.add_argument("--seconds", type=float, default=30.0, help="Duration (1-300 s).")
    ap.add_argument("--warmup", type=float, default=3.0, help="Seconds of unmeasured warm-up requests first.")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--mode", default="hybrid", choices=["hybrid", "bm25", "dense"])
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="Environment of the server started here, e.g. OMP_NUM_THREADS=1. Repeatable.")
    ap.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 1 <= args.seconds <= 300:
        ap.error("--clients must be 1-64 and --seconds 1-300")

    try:
        server_env = dict(kv.split("=", 1) for kv in args.server_env)
    except ValueError:
        ap.error("--server-env takes KEY=VALUE")
    if args.repeat:
        queries = QuerySource(gold_queries(Path(args.gold)), unique=False)
    else:
        queries = QuerySource(unique_pool(args.pool, args.seed), unique=True)
    proc = None
    if args.url:
        host = urlparse(args.url).hostname
        if host not in LOOPBACK:
            ap.error(f"--url must be a loopback address, not {host}")
        url, pid = args.url.rstrip("/"), args.pid
    else:
        proc, url = start(args.data_dir, server_env)
        pid = proc.pid
    try:
        health = httpx.get(url + "/health", timeout=10).json()
        if args.warmup:
            run(url, queries, args.clients, args.warmup, args.k, args.mode)
        cpu0, mine0 = cpu_seconds(pid), time.process_time()
        report = run(url, queries, args.clients, args.seconds, args.k, args.mode)
        cpu1, mine1 = cpu_seconds(pid), time.process_time()
        if cpu0 is not None and cpu1 is not None and report["requests"]:
            report["server_cpu_ms_per_request"] = round((cpu1 - cpu0) * 1000 / report["requests"], 1)
        if report["requests"]:   # this client shares the host's cores with the server
            report["client_cpu_ms_per_request"] = round((mine1 - mine0) * 1000 / report["requests"], 1)
        report.update(query_mode="gold round robin" if args.repeat else "unique", pool=len(queries.queries),
                      queries_sent=queries.sent, distinct_queries=queries.distinct_sent(), pool_spent=queries.spent,
                      k=args.k, mode=args.mode, passages=health.get("passages"),
                      server_env=server_env, cpus=os.cpu_count(), load_avg=[round(x, 2) for x in os.getloadavg()])
        if pid:
            cur, peak = rss_kib(pid)
            report.update(server_rss_mib=cur and round(cur / 1024, 1), server_peak_rss_mib=peak and round(peak / 1024, 1))
    finally:
        if proc:
            stop_server(proc)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        what = (f"{report['pool']} gold queries round robin" if args.repeat else
                f"never-repeating queries: {report['distinct_queries']} distinct of {report['queries_sent']} sent "
                f"(warm-up included), pool {report['pool']}" + (", SPENT: clients stopped early" if queries.spent else ""))
        print(f"{report['requests']} requests in {report['seconds']} s from {report['clients']} clients "
              f"({what}, k={args.k}, mode={args.mode}, "
              f"{report['passages']} passages)" + (f", server env {server_env}" if server_env else ""))
        print(f"throughput {report['throughput_rps']} req/s; latency p50 {report['p50_ms']} ms, "
              f"p95 {report['p95_ms']} ms, p99 {report['p99_ms']} ms, max {report['max_ms']} ms")
        print(f"errors {report['errors']}" + (f" e.g. {report['error_samples'][0]}" if report["errors"] else ""))
        if report.get("server_peak_rss_mib"):
            print(f"server RSS {report['server_rss_mib']} MiB, peak {report['server_peak_rss_mib']} MiB")
        if report.get("server_cpu_ms_per_request"):
            print(f"server CPU {report['server_cpu_ms_per_request']} ms per request, load client CPU "
                  f"{report.get('client_cpu_ms_per_request')} ms per request (same host)")
        print(f"host: {report['cpus']} CPUs, load average {report['load_avg']}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU per FHIR read and search inside the server, without HTTP: the figure to compare versions by.

    uv run --frozen python benchmarks/fhir_record_cpu.py --store sqlite:///DIR/ics.sqlite \
        [--data-dir DIR] [--reads 3000] [--searches 600] [--rounds 3]

``benchmarks/fhir_record.py`` measures requests/s through a served app, but on this 2-core
machine its figures move by a third from run to run (the load generator, two worker processes
and the kernel share the cores). This script runs what each request runs after HTTP parsing,
on one thread: the bearer token's check (as the accounts middleware does it) and the service
interaction with its access decision and committed audit event, over the same requests
``fhir_record.py`` sends. It prints CPU milliseconds per request (best of --rounds, the least
disturbed) and the single-thread requests/s that CPU allows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).parent))

from fhir_record import _busiest_practice, _reads_and_searches, clinician_token

from integrated_care.accounts.middleware import TokenPrincipals
from integrated_care.record import service
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings


def _one(runtime: Runtime, tokens: TokenPrincipals, token: str, path: str) -> int:
    principal = tokens.principal(runtime, token)
    caller = service.Caller(principal=principal, client="127.0.0.1")
    parts = urlsplit(path)
    segments = parts.path.removeprefix("/fhir/").split("/")
    if len(segments) == 2:
        reply = service.read(runtime, caller, segments[0], segments[1])
    else:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        reply = service.search_type(runtime, caller, segments[0], pairs)
    reply.content()  # the JSON the route would send
    return reply.status


def _measure(runtime: Runtime, token: str, paths: list[str], rounds: int) -> tuple[float, int]:
    tokens = TokenPrincipals()
    failed = sum(_one(runtime, tokens, token, p) >= 300 for p in paths[:50])  # warm
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        failed += sum(_one(runtime, tokens, token, p) >= 300 for p in paths)
        best = min(best, (time.process_time() - started) / len(paths))
    return best, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a loaded store's database URL")
    parser.add_argument("--data-dir", type=Path, default=Path("ics-data"))
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--searches", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args: Any = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, database_url=args.store)
    runtime = Runtime(settings)
    practice = _busiest_practice(runtime)
    token = clinician_token(runtime, practice)
    _patients, gets = _reads_and_searches(runtime, practice, args)
    print(f"{args.store}: a clinician of {practice}; best of {args.rounds} rounds, one thread")
    for name, paths in gets.items():
        cpu, failed = _measure(runtime, token, paths, args.rounds)
        print(
            f"{name:<30} {1000 * cpu:6.2f} ms CPU per request "
            f"({1 / cpu:,.0f} requests/s per core; {len(paths):,} requests, {failed} failed)"
        )


if __name__ == "__main__":
    main()

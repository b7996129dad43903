"""Browser check bench: what the reader's check of a 25-post front page against the chain costs (issue 12).

    .venv/bin/python bench/verify.py [--loads 30] [--write]

Starts its own stack on 127.0.0.1 (a throwaway Ganache, a Board, ``python -m backend serve`` with its
indexer, SQLite), posts 25 top-level posts through the app's content API and the contract, and drives
Debian's Chromium (``INDELIBLE_CHROMIUM``) over ``/new`` ``--loads`` times: cold (a new browser context
each time, so every file is fetched) and warm (a reload of the same tab, files from the browser's cache).
For each load it reads what static/js/verify.js records on ``#chain-check`` (``data-check-ms``: from the
start of the check to the last mark set, i.e. the time the check adds after the page is shown;
``data-rpc-ms``: until the chain's answer arrived) and counts the requests the page sent to the chain
node and to ``/ipfs/``. Prints median and p90 of each, the counts, and the load average at the start and
the end. ``--write`` replaces this bench's section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Browser, Page, Request, sync_playwright

from bench.benchdocs import write_section
from tests.support.browser import CHROMIUM_ARGS, Stack, running_stack

SECTION = "## Browser check of a page against the chain (bench/verify.py)"
CHROMIUM = os.environ.get("INDELIBLE_CHROMIUM", "/usr/bin/chromium")
POSTS = 25
BUDGET_MS = 300  # issue 12: time the check adds to a 25-post page, on Ganache
NOTE = (
    "Most of the check is the wait for the chain's answer (*chain ms*): the files are fetched, hashed and "
    "re-rendered meanwhile, so the rest adds 10-40 ms. A cold load also opens a connection to the RPC and pays "
    'its CORS preflight. One `eth_call` of a never-deployed reader contract (a "deployless multicall") in place '
    "of the 26 calls was tried and was not faster on Ganache (54-324 ms against 46-289 ms for the batch). "
    "The same command while other test suites shared the two cores (load average 6.6-8.6, 2026-11-30) "
    "measured cold 333 / 482 ms and warm 174 / 261 ms (p50 / p90): the target holds on a quiet machine only, "
    "and the margin is Ganache's answer time."
)


def _seed(stack: Stack) -> None:
    """25 top-level posts of ordinary length and Markdown, indexed and pinned."""
    filler = "More words follow here so that the body is about as long as a real post. " * 4
    for n in range(POSTS):
        body = (
            f"Post **{n}** of the bench: a paragraph of ordinary prose with a [link](https://example.com/{n}), "
            "some `code` and *emphasis*.\n\n- one item\n- another item\n\n> a quoted line\n\n" + filler
        )
        stack.post({"title": f"Bench topic {n}: checking a front page", "body": body})
    head = stack.w3.eth.block_number
    stack.wait_for(lambda: stack.api("/api/status")["index"]["indexed_block"] >= head, "the index at the head")


def _load(page: Page, stack: Stack, reload: bool) -> dict[str, Any]:
    """One load of /new, until every post is marked; what verify.js recorded and what the page sent."""
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    if reload:
        page.reload()
    else:
        page.goto("/new")
    page.wait_for_selector("#chain-check[data-checked=true]", state="attached")
    marks = page.eval_on_selector_all("[data-chain-mark]", "els => els.map(e => e.textContent)")
    if len(marks) != POSTS or not all(mark.startswith("checked against chain") for mark in marks):
        raise SystemExit(f"the page was not checked clean: {marks}")
    chain = [r for r in sent if r.url.rstrip("/") == stack.ganache_url.rstrip("/")]
    calls = sum(len(json.loads(r.post_data or "[]")) for r in chain)
    return {
        "check_ms": int(page.get_attribute("#chain-check", "data-check-ms") or "0"),
        "rpc_ms": int(page.get_attribute("#chain-check", "data-rpc-ms") or "0"),
        "rpc_requests": len(chain),
        "rpc_calls": calls,
        "files": sum(1 for r in sent if "/ipfs/" in r.url),
    }


def measure(stack: Stack, browser: Browser, loads: int) -> dict[str, list[dict[str, Any]]]:
    """``loads`` cold loads (a context each) and ``loads`` warm reloads of one tab."""
    cold = []
    for _ in range(loads + 1):
        context = browser.new_context(base_url=stack.url)
        cold.append(_load(context.new_page(), stack, reload=False))
        context.close()
    context = browser.new_context(base_url=stack.url)
    page = context.new_page()
    _load(page, stack, reload=False)
    warm = [_load(page, stack, reload=True) for _ in range(loads + 1)]
    context.close()
    return {"cold": cold[1:], "warm": warm[1:]}  # the first load of each warms the app and Chromium up


def _p90(values: list[int]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else float(values[0])


def report(runs: dict[str, list[dict[str, Any]]], loads: int, load_before: float, load_after: float) -> str:
    """The section of docs/benchmarks.md, printed as well."""
    rows = []
    for kind, label in (("cold", "cold (new context: every file fetched)"), ("warm", "warm (reload: files cached)")):
        data = runs[kind]
        check = [d["check_ms"] for d in data]
        rpc = [d["rpc_ms"] for d in data]
        counts = {key: sorted({d[key] for d in data}) for key in ("rpc_requests", "rpc_calls", "files")}
        rows.append(
            f"| {label} | {statistics.median(check):.0f} | {_p90(check):.0f} | {statistics.median(rpc):.0f} | "
            f"{_p90(rpc):.0f} | {counts['rpc_requests']} | {counts['rpc_calls']} | {counts['files']} |"
        )
    return (
        f"{SECTION}\n\n"
        f"`.venv/bin/python bench/verify.py --loads {loads} --write` (Chromium, Ganache, SQLite, one app process; "
        f"{os.cpu_count()} cores, load average {load_before:.1f} at the start, {load_after:.1f} at the end).\n\n"
        f"The front page `/new` with {POSTS} posts, {loads} loads each. *check ms*: from the start of "
        "static/js/verify.js's check to the last mark set (what the check adds after the page is shown); "
        "*chain ms*: until the chain's answer arrived. Requests per load: to the chain node (one batched "
        "JSON-RPC request of eth_chainId, postCount and one getPost per post) and to `/ipfs/`. "
        f"Target: under {BUDGET_MS} ms added.\n\n"
        "| load | check ms p50 | check ms p90 | chain ms p50 | chain ms p90 | chain requests | calls in them "
        "| file fetches |\n|---|---:|---:|---:|---:|---|---|---|\n" + "\n".join(rows) + "\n\n" + NOTE + "\n"
    )


def main() -> None:
    """Run the bench; print, and with ``--write`` record, its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="replace this bench's section of docs/benchmarks.md")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp) / "data") as stack:
        _seed(stack)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            runs = measure(stack, browser, args.loads)
            browser.close()
    section = report(runs, args.loads, load_before, os.getloadavg()[0])
    print(section)
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()

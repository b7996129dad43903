"""Browser check bench: what the reader's check of a 25-post front page against the chain costs (issues 12, 23).

    .venv/bin/python bench/verify.py [--loads 30] [--write]

Starts its own stack on 127.0.0.1 (a throwaway Ganache, a Board, ``python -m backend serve`` with its
indexer, SQLite), posts 25 top-level posts through the app's content API and the contract, and drives
Debian's Chromium (``INDELIBLE_CHROMIUM``) over ``/new`` ``--loads`` times: cold (a new browser context
each time, so every file is fetched) and warm (a reload of the same tab, files from the browser's cache).
The reader names a second RPC (Settings, ``indelible.rpcs``): an honest proxy in front of the same Ganache
(tests/support/lying_rpc.py, lying about nothing), so every post is proven (static/js/proof.js: the header from
both, ``eth_getProof`` of 76 slots from the first) and must be marked "proven at block N by 2 RPCs".
For each load it reads what static/js/verify.js records on ``#chain-check`` (``data-check-ms``: from the
start of the check to the last mark set, i.e. the time the check adds after the page is shown;
``data-rpc-ms``: until the chain's answer to the calls arrived) and counts the requests the page sent to each
RPC and to ``/ipfs/``. Prints median and p90 of each, the counts, and the load average at the start and
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
from tests.support.lying_rpc import LyingRpc, lying_rpc

SECTION = "## Browser check of a page against the chain (bench/verify.py)"
CHROMIUM = os.environ.get("INDELIBLE_CHROMIUM", "/usr/bin/chromium")
POSTS = 25
BUDGET_MS = 400  # issue 23: time the check with proofs and two RPCs adds to a 25-post page, on Ganache
NOTE = (
    "The files are fetched, hashed and re-rendered, and the proofs' library loaded, while the chain is asked. "
    "No eth_call is asked once the proofs hold: on Ganache the 26 getPost "
    "calls of a page cost about four times the proofs (12 batches each against the 25-post chain at load average "
    "20, 2026-12-06: calls p50 319 ms, one eth_getProof of 76 slots with its header p50 74 ms, both in one batch "
    "p50 569 ms). On this shared machine (8 sessions' test suites, load average about 20 on 2 cores) the "
    "check is CPU-bound in the browser: the first RPC answers in about 200 ms, the rest is Chromium at a small share "
    "of a core importing the proofs' library and checking 77 proofs (in Chromium at load 25, per step: library "
    "import 140-470 ms, one partial trie and 76 lookups 290-480 ms, the release's code filled and hashed 15-290 ms; "
    "in Node on the same machine the proof check takes 19-181 ms). The table above is from a quiet machine (no other "
    "session's tests; load average under 2 before the run, the bench's own Ganache and Chromium raise it): cold p50 "
    "is under the 400 ms target; at load average 1.3-4.4 (2026-12-06, two test suites beside it) the same bench "
    "gave cold p50 525 ms / p90 627 ms, and at load 20 1,639 ms. A cold load also opens "
    "a connection to each RPC and pays its CORS preflight. Before proofs (issue 12, one RPC, 2026-11-30, quiet "
    "machine) the same page's check added 186 ms p50 / 228 ms p90 cold."
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


def _load(page: Page, stack: Stack, second: LyingRpc, reload: bool) -> dict[str, Any]:
    """One load of /new, until every post is marked; what verify.js recorded and what the page sent."""
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    if reload:
        page.reload()
    else:
        page.goto("/new")
    page.wait_for_selector("#chain-check[data-checked=true]", state="attached")
    marks = page.eval_on_selector_all("[data-chain-mark]", "els => els.map(e => e.textContent)")
    if len(marks) != POSTS or not all(
        mark.startswith("proven at block") and mark.endswith("by 2 RPCs") for mark in marks
    ):
        raise SystemExit(f"the page was not proven clean: {marks}")
    chain = [r for r in sent if r.url.rstrip("/") == stack.ganache_url.rstrip("/")]
    calls = sum(len(json.loads(r.post_data or "[]")) for r in chain)
    to_second = [r for r in sent if r.url.rstrip("/") == second.url]
    # how long the first RPC took to answer, as the browser timed the fetch (its CORS preflight included)
    answer_ms = page.evaluate(
        "url => Math.round(Math.max(0, ...performance.getEntriesByType('resource')"
        ".filter(e => e.name.replace(/\\/$/, '') === url).map(e => e.responseEnd - e.startTime)))",
        stack.ganache_url.rstrip("/"),
    )
    return {
        "check_ms": int(page.get_attribute("#chain-check", "data-check-ms") or "0"),
        "answer_ms": int(answer_ms),
        "rpc_ms": int(page.get_attribute("#chain-check", "data-rpc-ms") or "0"),
        "rpc_requests": len(chain),
        "rpc_calls": calls,
        "second_requests": len(to_second),
        "second_calls": sum(len(json.loads(r.post_data or "[]")) for r in to_second),
        "files": sum(1 for r in sent if "/ipfs/" in r.url),
    }


def _context(browser: Browser, stack: Stack, second: LyingRpc) -> Any:
    """A new browser context whose reader named ``second`` as a further RPC."""
    context = browser.new_context(base_url=stack.url)
    context.add_init_script(f"localStorage.setItem('indelible.rpcs', {json.dumps(json.dumps([second.url]))});")
    return context


def measure(stack: Stack, browser: Browser, second: LyingRpc, loads: int) -> dict[str, list[dict[str, Any]]]:
    """``loads`` cold loads (a context each) and ``loads`` warm reloads of one tab."""
    cold = []
    for _ in range(loads + 1):
        context = _context(browser, stack, second)
        cold.append(_load(context.new_page(), stack, second, reload=False))
        context.close()
    context = _context(browser, stack, second)
    page = context.new_page()
    _load(page, stack, second, reload=False)
    warm = [_load(page, stack, second, reload=True) for _ in range(loads + 1)]
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
        answer = [d["answer_ms"] for d in data]
        keys = ("rpc_requests", "rpc_calls", "second_requests", "second_calls", "files")
        counts = {key: sorted({d[key] for d in data}) for key in keys}
        rows.append(
            f"| {label} | {statistics.median(check):.0f} | {_p90(check):.0f} | {statistics.median(rpc):.0f} | "
            f"{_p90(rpc):.0f} | {statistics.median(answer):.0f} | {counts['rpc_requests']} ({counts['rpc_calls']}) | "
            f"{counts['second_requests']} ({counts['second_calls']}) | {counts['files']} |"
        )
    return (
        f"{SECTION}\n\n"
        f"`.venv/bin/python bench/verify.py --loads {loads} --write` (Chromium, Ganache, SQLite, one app process; "
        f"{os.cpu_count()} cores, load average {load_before:.1f} at the start, {load_after:.1f} at the end).\n\n"
        f"The front page `/new` with {POSTS} posts, {loads} loads each. *check ms*: from the start of "
        "static/js/verify.js's check to the last mark set (what the check adds after the page is shown); "
        "*chain ms*: until the proofs were checked; *first RPC's answer ms*: the fetch of its batch as the browser "
        "timed it. Every post is proven (static/js/proof.js) "
        "against a header both RPCs agree on. Requests per load (JSON-RPC calls in them): to the first RPC, one "
        "batch of eth_chainId, eth_getBlockByNumber and one eth_getProof of "
        f"{1 + 3 * POSTS} slots (postCount, each post's two slots and tally; no eth_call); to the second "
        "RPC (an honest proxy in front of the same Ganache), one batch of eth_chainId and eth_getBlockByNumber; "
        f"and to `/ipfs/`. Target: under {BUDGET_MS} ms added.\n\n"
        "| load | check ms p50 | check ms p90 | chain ms p50 | chain ms p90 | first RPC's answer ms p50 "
        "| first RPC: requests (calls) | second RPC: requests (calls) | file fetches |\n"
        "|---|---:|---:|---:|---:|---:|---|---|---|\n" + "\n".join(rows) + "\n\n" + NOTE + "\n"
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
        with sync_playwright() as playwright, lying_rpc(stack.ganache_url, stack.board.address) as second:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            runs = measure(stack, browser, second, args.loads)
            browser.close()
    section = report(runs, args.loads, load_before, os.getloadavg()[0])
    print(section)
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()

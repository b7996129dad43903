"""Rules for every test run: a skipped test fails the run; the longest files run first.

A skipped contract, indexer or browser test is a promise not kept, so a run
with any skip exits non-zero and says which (``-ra`` lists the reasons).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from backend import provider

# Seconds each file's tests took in a full run (`make test`'s two workers, junit times, 2026-12-06, load 3-8),
# the longest 20. ``make test`` hands whole files to its workers in collection order (pytest-xdist's loadfile
# with --no-loadscope-reorder): the longest go first so that no worker is left running one alone at the end
# (xdist's own order, by test count, put a 105 s file of two tests last). Files not named follow, most tests first.
LONGEST_FILES = {
    "tests/backend/indexer/test_indexer.py": 147,
    "tests/backend/relay/test_relay.py": 138,
    "tests/browser/test_forum.py": 136,
    "tests/backend/indexer/test_poison.py": 109,
    "tests/backend/test_provider_limits.py": 106,
    "tests/backend/api/test_api_fuzz.py": 105,
    "tests/backend/relay/test_relay_proxy.py": 100,
    "tests/browser/test_trust.py": 73,
    "tests/browser/test_find.py": 66,
    "tests/backend/relay/test_relay_policy.py": 60,
    "tests/browser/test_reader.py": 54,
    "tests/backend/deployments/test_join.py": 52,
    "tests/backend/relay/test_relay_worst_case.py": 46,
    "tests/backend/indexer/test_poison_fuzz.py": 41,
    "tests/backend/api/test_api_paging.py": 37,
    "tests/backend/views/test_lens.py": 35,
    "tests/backend/indexer/test_indexer_kill.py": 33,
    "tests/backend/test_scale_out.py": 28,
    "tests/browser/test_proofs.py": 27,
    "tests/backend/test_run_command.py": 26,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.has_plugin("pytest-brownie"):  # the contract run: brownie's own order, one process
        return
    files = Counter(item.nodeid.split("::")[0] for item in items)
    items.sort(  # stable: a file's tests keep their order
        key=lambda item: (-LONGEST_FILES.get(path := item.nodeid.split("::")[0], 0), -files[path], path)
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = len(terminalreporter.stats.get("skipped", []))
    if skipped:
        terminalreporter.write_line(f"{skipped} test(s) skipped: this run fails, no test may be skipped", red=True)


@pytest.fixture(autouse=True)
def _fresh_provider_limits() -> Iterator[None]:
    """Each test starts with nothing learned of any RPC URL (backend/provider.py keeps it for the process).

    The session chain's URL is shared by every test of a worker: what one test's provider tests taught it (a
    span, a batch size, refusals counted) would otherwise show in a later test's /api/status or change its reads.
    A client made earlier (a module's app) keeps the record it was given.
    """
    provider._LIMITS.clear()
    yield

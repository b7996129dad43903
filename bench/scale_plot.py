"""How cost grows with the index: docs/scale.png from bench/scale.py runs (``--json``), and docs/scale.json.

    .venv-bench/bin/python bench/scale_plot.py RUN.json [RUN.json ...]   # adds the runs to docs/scale.json, plots
    .venv-bench/bin/python bench/scale_plot.py                           # plots docs/scale.json as it is

matplotlib is the one dependency (requirements-bench.txt, its own virtualenv: docs/dependencies.md); the
figures are kept in docs/scale.json (per run: engine, posts, read p50/p99 per route, cold start, RSS, fill and
incremental rates, bytes per table and index), so the plot can be made again without the runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ROOT / "docs" / "scale.json"
PLOT = ROOT / "docs" / "scale.png"
FAMILIES = {  # route name prefix -> line label
    "feed": "feeds (every sort and lens, deep page)",
    "thread": "threads (big, recent, replies page 20)",
    "search": "search (common, rare, two words)",
    "page:": "HTML pages",
    "author": "author, inbox",
    "voter": "voter's votes",
    "topic": "topics, topic feed",
}


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    """The figures of one bench/scale.py --json run that the docs and the plot use."""
    return {
        "engine": run["url"],
        "posts": run["posts"],
        "workers": run.get("workers", 1),
        "load": run["load"],
        "fill_rate": (run.get("fill") or {}).get("rate"),
        "fill_seconds": (run.get("fill") or {}).get("seconds"),
        "fill_events": (run.get("fill") or {}).get("events"),
        "bulk": bool((run.get("fill") or {}).get("bulk")),
        "incremental_rate": (run.get("incremental") or {}).get("rate"),
        "cold_start_s": run["cold_start_s"],
        "serve_rss_mb": run["serve_rss_mb"],
        "filler_rss_mb": run["fill"]["rss"][-1][1] if (run.get("fill") or {}).get("rss") else None,
        "reads": {name: v[:2] for name, v in run["reads"].items()},
        "alone": run.get("alone") or {},
        "bytes": sum(size for _, _, size in run["sizes"]),
        "sizes": run["sizes"],
    }


def family(route: str) -> str:
    for prefix, label in FAMILIES.items():
        if route.startswith(prefix):
            return label
    return "other"


def plot(runs: list[dict[str, Any]], out: Path) -> None:
    """p99 per family of routes (worst route of the family) and bytes on disk against posts, per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (reads, disk) = plt.subplots(1, 2, figsize=(12, 4.8))
    for engine, marker in (("sqlite", "o"), ("postgresql", "s")):
        mine = sorted((r for r in runs if r["engine"] == engine), key=lambda r: r["posts"])
        if not mine:
            continue
        posts = [r["posts"] for r in mine]
        for label in sorted({family(name) for r in mine for name in r["reads"]}):
            worst = [max(v[1] for name, v in r["reads"].items() if family(name) == label) for r in mine]
            reads.plot(posts, worst, marker=marker, label=f"{engine}: {label}")
        disk.plot(posts, [r["bytes"] / 2**30 for r in mine], marker=marker, label=f"{engine}: index on disk (GiB)")
        disk.plot(
            posts, [r["serve_rss_mb"] / 1024 for r in mine], marker=marker, ls="--", label=f"{engine}: serve RSS (GiB)"
        )
    reads.axhline(50, color="red", lw=0.8, ls=":", label="target p99 50 ms")
    reads.set(xscale="log", yscale="log", xlabel="posts and replies", ylabel="p99 ms (8 readers; worst route)")
    reads.set_title("read p99 by size")
    reads.legend(fontsize=6)
    disk.set(xscale="log", yscale="log", xlabel="posts and replies", ylabel="GiB")
    disk.set_title("index size and serve memory")
    disk.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def growth_table(runs: list[dict[str, Any]]) -> str:
    """Markdown: one column per run (engine, size), a row per figure and per read route (p50 / p99 ms)."""
    runs = sorted(runs, key=lambda r: (r["posts"], r["engine"]))
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    head = "| | " + " | ".join(f"{names[r['engine']]}, {r['posts']:,} posts" for r in runs) + " |"
    rows = [head, "|---|" + "---:|" * len(runs)]
    rows.append("| API processes (serve --workers) | " + " | ".join(str(r.get("workers", 1)) for r in runs) + " |")

    def row(label: str, cells: list[str]) -> None:
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    row("load average at the reads (1, 5, 15 min)", [", ".join(f"{x:.1f}" for x in r["load"]) for r in runs])
    row("fill, bulk (events/s)", [f"{r['fill_rate']:,.0f}" if r["fill_rate"] else "-" for r in runs])
    row(
        "incremental, store_range (events/s; * from an earlier run on the same index)",
        [
            (f"{r['incremental_rate']:,.0f}" + ("*" if r.get("incremental_carried") else ""))
            if r["incremental_rate"]
            else "-"
            for r in runs
        ],
    )
    row("serve cold start (s)", [f"{r['cold_start_s']:.1f}" for r in runs])
    row("serve RSS after the reads (MB)", [f"{r['serve_rss_mb']:,.0f}" for r in runs])
    row("on disk, all tables and indexes (MB)", [f"{r['bytes'] / 2**20:,.0f}" for r in runs])
    routes = list(dict.fromkeys(name for r in runs for name in r["reads"]))
    for name in routes:
        cells = []
        for r in runs:
            v = r["reads"].get(name)
            cells.append(f"{v[0]:.0f} / {v[1]:.0f}" if v else "-")
        row(f"{name}: p50 / p99 ms", cells)
    if any(r.get("alone") for r in runs):
        row("one of each route, one reader alone: sum of p50s (ms)", [
            f"{sum(r['alone'].values()):,.0f}" if r.get("alone") else "-" for r in runs
        ])  # fmt: skip
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    args = parser.parse_args()
    summary: list[dict[str, Any]] = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else []
    for path in args.runs:
        run = summarise(json.loads(path.read_text()))
        # the same index measured again (a run with --incremental adds posts to it): within 5% of its size
        same = [
            r for r in summary if r["engine"] == run["engine"] and abs(r["posts"] - run["posts"]) < run["posts"] / 20
        ]
        if not run["incremental_rate"] and same and same[0]["incremental_rate"]:
            # a run without --incremental (reads only) keeps the index's last measured incremental rate
            run["incremental_rate"], run["incremental_carried"] = same[0]["incremental_rate"], True
        summary = [r for r in summary if r not in same] + [run]
    summary.sort(key=lambda r: (r["engine"], r["posts"]))
    SUMMARY.write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, PLOT)
    print(growth_table(summary))
    print(f"{PLOT.relative_to(ROOT)}: {len(summary)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

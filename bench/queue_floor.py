"""What p99 8 closed-loop readers can see on this machine when every request costs a known CPU time.

bench/scale.py's readers ask without pause, 8 at once, so a request's time is mostly its wait in the queue of
every other reader's request: on a machine of ``cores`` cores the mean answer takes about 8 / cores times the
mean cost of a request, whatever the route. This bench replaces the index with a route that only burns CPU:
``GET /spin?ms=X`` spins X ms of its thread's CPU time in the same server as ``serve`` (uvicorn, 2 processes,
sync routes in the thread pool) and answers a small JSON. The same readers as bench/scale.py (their own
processes and keep-alive connections, the same order shuffling) then ask:

* ``--uniform``: one route of each cost alone, to see the p99 that a given mean cost allows;
* ``--mix JSON``: every route of a bench/scale.py run (``--json`` output) replaced by a spin of its "alone" p50
  less this server's floor (the p50 of ``/spin?ms=0`` alone), so the mix costs what the index's did: the p99s
  it gets are the queue's share of the measured ones.

    python bench/queue_floor.py --uniform 0,1,2,4,6,8 --mix /tmp/pg10m.json --lock /work/wt/bench.lock
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.devchain import free_port
from bench.api import Client
from bench.backfill_rss import held
from bench.scale import READERS, read, read_alone

SPIN_APP = """
import sys, time, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/spin")
def spin(ms: float = 0.0) -> dict[str, float]:
    began = time.thread_time()
    while (time.thread_time() - began) * 1000 < ms:
        pass
    return {"ms": ms}
if __name__ == "__main__":
    uvicorn.run("__main__:app", host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]),
                log_level="warning", access_log=False)
"""


def _serve(port: int, workers: int, directory: Path) -> subprocess.Popen[bytes]:
    script = directory / "spin_app.py"
    script.write_text(SPIN_APP)
    server = subprocess.Popen([sys.executable, str(script), str(port), str(workers)], cwd=directory)
    deadline = time.monotonic() + 30
    while True:
        try:
            if Client(port).get("/spin?ms=0")[0] == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("the spin server did not start")
        time.sleep(0.2)


def _mix(run: dict[str, Any], floor: float) -> dict[str, str]:
    """Each route of a bench/scale.py run as a spin of its alone p50 less the floor (never below 0)."""
    return {
        name: f"/spin?ms={max(0.0, alone - floor):.2f}&r={i}" for i, (name, alone) in enumerate(run["alone"].items())
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uniform", default="0,1,2,4,6,8", help="CPU ms per request, one route each (comma list)")
    parser.add_argument("--mix", type=Path, help="a bench/scale.py --json file: replay its routes' costs as spins")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the mix per reader (as bench/scale.py)")
    parser.add_argument("--requests", type=int, default=1200, help="requests per uniform cost, all readers together")
    parser.add_argument("--workers", type=int, default=2, help="server processes (as bench/scale.py --workers)")
    parser.add_argument("--lock", type=Path, help="hold this file's flock while measuring")
    args = parser.parse_args()
    with held(args.lock), tempfile.TemporaryDirectory(prefix="queue-floor-") as directory:
        _measure(args, Path(directory))
    return 0


def _measure(args: argparse.Namespace, directory: Path) -> None:
    port = free_port()
    server = _serve(port, args.workers, directory)
    try:
        print(f"{READERS} readers, {args.workers} server processes, {os.cpu_count()} cores, load {os.getloadavg()}")
        floor = read_alone(Client(port), {"floor": "/spin?ms=0"})["floor"]
        print(f"floor: /spin?ms=0 alone p50 {floor:.2f} ms")
        print("| CPU ms a request | alone p50 ms | p50 ms | p99 ms |")
        print("|---:|---:|---:|---:|")
        for cost in [float(x) for x in args.uniform.split(",") if x]:
            path = {f"spin {cost}": f"/spin?ms={cost}"}
            cost_alone = read_alone(Client(port), path)[f"spin {cost}"]
            p50, p99, _ = read(port, path, max(1, args.requests // READERS))[f"spin {cost}"]
            print(f"| {cost:g} | {cost_alone:.1f} | {p50:.1f} | {p99:.1f} |", flush=True)
        if args.mix is not None:
            run = json.loads(args.mix.read_text())
            paths = _mix(run, floor)
            alone = read_alone(Client(port), paths)
            seen = read(port, paths, args.rounds)
            print(
                f"\nmix of {args.mix} ({run.get('measured_at')}, {run.get('posts')} posts): alone sum "
                f"{sum(run['alone'].values()):.0f} ms measured, {sum(alone.values()):.0f} ms as spins"
            )
            print("| route | measured alone p50 | measured p99 | spin alone p50 | spin p50 | spin p99 |")
            print("|---|---:|---:|---:|---:|---:|")
            for name in paths:
                p50, p99, _ = seen[name]
                print(
                    f"| {name} | {run['alone'][name]:.1f} | {run['reads'][name][1]:.1f} | {alone[name]:.1f} |"
                    f" {p50:.1f} | {p99:.1f} |"
                )
            worst = max(seen[name][1] for name in paths)
            print(f"slowest p99 as spins: {worst:.1f} ms; measured: {max(v[1] for v in run['reads'].values()):.1f} ms")
        print(f"load after {os.getloadavg()}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    raise SystemExit(main())

"""A read route's answer: built on one read snapshot in a worker thread, returned as JSON bytes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import HTTPException, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.db.fulltext import BadQuery
from backend.db.session import read_snapshot
from backend.views.cursors import BadCursor


async def read_json(engine: Engine, build: Callable[[Session], Any], *, missing: str = "Post not found") -> Response:
    """``build(session)`` on a read session, as a JSON response; one worker-thread hop for all of it.

    The read routes declare their response models for /openapi.json but return these bytes, so
    FastAPI neither re-validates nor re-encodes what ``backend.views`` built (the schema fuzz
    in tests/backend/api/test_api_fuzz.py checks every answer against the models instead). A 404 saying
    ``missing`` when ``build`` gives None; ``Server-Timing`` says how long query and encoding took.
    """

    def work() -> tuple[bytes | None, float]:
        began = time.perf_counter()
        with read_snapshot(engine) as session:
            document = build(session)
        return (None if document is None else orjson.dumps(document)), time.perf_counter() - began

    try:
        body, seconds = await run_in_threadpool(work)
    except (BadCursor, BadQuery) as exc:  # a bad cursor, a search too broad for its time
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    if body is None:
        raise HTTPException(status_code=404, detail=missing)
    return Response(body, media_type="application/json", headers={"Server-Timing": f"app;dur={seconds * 1000:.3f}"})

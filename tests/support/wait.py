"""The one wait helper: poll until a condition holds, or fail the test saying what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    check: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    what: str = "condition",
    ignore: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``check`` until it returns something truthy and return that; fail after ``timeout`` seconds.

    An exception of a type in ``ignore`` counts as "not yet" (e.g. a 404 before the index has a post); any
    other exception, such as an AssertionError raised by ``check`` itself, fails at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)

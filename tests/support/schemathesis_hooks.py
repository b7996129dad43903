"""Schemathesis hooks for tests/backend/api/test_api_fuzz.py: one thread at a time inside ``ast.parse``.

Loaded by the schemathesis CLI in ``.venv-fuzz`` (the ``hooks`` key of the config the test writes), never by pytest.
CPython before 3.11.8 / 3.12.1 (gh-106905; we run 3.11.7 here and Debian's 3.11.2 in CI) keeps the AST
constructor's recursion-depth counter in interpreter-wide state. When two threads convert a parse tree at once
(the GIL moves while the C conversion runs a GC finalizer), each overwrites the other's counter and ``ast.parse``
raises ``SystemError: AST constructor recursion depth mismatch``; no RecursionError is involved. With ``--workers 2``
both coverage-phase workers reach hypothesis's ``.filter()`` on schemathesis's own lambdas
(``coverage/_schema.py``'s ``restrict``): hypothesis names each lambda by parsing that 216 kB source file, the two
workers parse it at the same moment, and the run dies at random. A lock around ``ast.parse`` removes the overlap
and changes nothing schemathesis generates; the workers keep running in parallel everywhere else.
"""

from __future__ import annotations

import ast
import threading
from typing import Any

_parse = ast.parse
# Reentrant: a finalizer run by the GC during a parse may itself parse on the same thread.
_lock = threading.RLock()


def _serialized_parse(*args: Any, **kwargs: Any) -> Any:
    """``ast.parse`` on one thread at a time (gh-106905)."""
    with _lock:
        return _parse(*args, **kwargs)


ast.parse = _serialized_parse

"""How every error of ours is worded: ``{"detail": "<field>: <what is wrong>"}``, one sentence.

``ApiRoute`` words the 422s of request validation; ``invalid`` words our own
checks alike; ``error_responses`` lists the error statuses in /openapi.json.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from backend.http.patterns import ADDRESS_PATTERN, BYTES32_PATTERN, POST_IDS_PATTERN, SIGNATURE_PATTERN


class ErrorResponse(BaseModel):
    """Every 4xx body: one sentence saying what is wrong."""

    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route may answer, all ``{"detail": ...}``."""
    return {code: {"model": ErrorResponse} for code in (*codes, 422)}


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("query", "path", "body")]
    return ".".join(parts) or "request body"


_PATTERN_HINTS = {
    ADDRESS_PATTERN: "expected 0x followed by 40 hex digits",
    BYTES32_PATTERN: "expected 0x followed by 64 hex digits",
    SIGNATURE_PATTERN: "expected 0x followed by 130 hex digits (65 bytes: r, s, v)",
    POST_IDS_PATTERN: "expected post ids separated by commas, such as 1,2,3",
}


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(str((error.get("ctx") or {}).get("pattern")))
        if hint:
            return hint
    return str(error.get("msg", "invalid"))


def validation_message(errors: Any) -> str:
    """One line out of pydantic's errors: ``limit: Input should be less than or equal to 100``."""
    return "; ".join(f"{_location(tuple(error.get('loc', ())))}: {_message(error)}" for error in errors)


class ApiRoute(APIRoute):
    """A route whose request-validation errors read ``{"detail": "<field>: <what is wrong>"}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so a RequestValidationError becomes a 422 with a one-line detail."""
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return JSONResponse(status_code=422, content={"detail": validation_message(exc.errors())})

        return route_handler


def invalid(field: str, problem: str) -> HTTPException:
    """A 422 worded as every other: ``<field>: <what is wrong>``."""
    return HTTPException(status_code=422, detail=f"{field}: {problem}")

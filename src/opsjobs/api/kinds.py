"""One module-level endpoint serving objects, links and classes alike, bound to one kind.

The routes of each kind name its ID as the entity routes do (``{object_id}``, ``{link_id}``,
``{class_id}``), so the document needs one declaration per kind. The endpoint is written
once with ``kind`` and ``owner_id`` parameters; ``for_kind`` makes the declaration of one
kind: ``kind`` fixed, ``owner_id`` read from the path under that kind's name.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Path
from starlette.responses import Response

KindEndpoint = Callable[..., Awaitable[Response]]


def for_kind(endpoint: KindEndpoint, kind: str) -> Callable[..., Awaitable[Response]]:
    """``endpoint`` (with parameters ``kind`` and ``owner_id``) as a FastAPI endpoint of
    ``kind``, whose ``owner_id`` is the path parameter ``{<kind>_id}``."""

    async def bound(**values: Any) -> Response:
        return await endpoint(kind=kind, **values)

    owner_id = Annotated[str, Path(alias=f"{kind}_id")]
    keyword = inspect.Parameter.KEYWORD_ONLY  # FastAPI passes every value by name
    parameters = [
        p.replace(kind=keyword, annotation=owner_id if p.name == "owner_id" else p.annotation)
        for p in inspect.signature(endpoint, eval_str=True).parameters.values()
        if p.name != "kind"
    ]
    bound.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    bound.__name__ = bound.__qualname__ = endpoint.__name__
    bound.__doc__ = endpoint.__doc__
    return bound

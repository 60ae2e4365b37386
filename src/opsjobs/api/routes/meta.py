"""Service routes: a constant answer for health checks and for benchmarking the stack."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from ..bodies import CheckedRoute
from ..responses import JSON

_PONG = b'{"status":"ok"}'


class Pong(BaseModel):
    status: Literal["ok"]


router = APIRouter(route_class=CheckedRoute, tags=["service"])


# Not a hot route (api/fast.py) on purpose: the benchmark measures the stack by it, and
# compares GET /jobs/:id with it.
@router.get(
    "/ping",
    summary="Health check: a constant answer, no authentication",
    response_model=None,
    responses={200: {"model": Pong}},
)
async def ping() -> Response:
    return Response(_PONG, media_type=JSON)

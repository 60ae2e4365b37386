"""CSRF protection for session cookies (docs/api.md §3, docs/security.md "CSRF").

A browser sends the ``sid`` cookie with requests other sites make it send; it does not let
those sites read the ``csrf`` cookie or set a header on a cross-site request. So a request
authenticated by the cookie that changes anything must echo the session's CSRF token in
``X-CSRF-Token``. Basic and token requests carry their credentials explicitly, which no other
site can make a browser do for them, and are not checked.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..domain.errors import CrossSiteLogIn, WrongCsrfToken
from ..store.sessions import csrf_hash

HEADER = "x-csrf-token"
COOKIE = "csrf"
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_csrf(request: Request, expected_hash: str | None) -> None:
    """WrongCsrfToken unless the request only reads or carries the session's token."""
    if request.method not in CHANGING_METHODS:
        return
    given = request.headers.get(HEADER)
    # A session from before CSRF tokens has none to match: it can only read.
    if given is None or expected_hash is None:
        raise WrongCsrfToken()
    if not hmac.compare_digest(csrf_hash(given), expected_hash):
        raise WrongCsrfToken()


def check_log_in_site(request: Request) -> None:
    """CrossSiteLogIn (403) for a log-in that a browser says another site's page sent. Such a page
    could post a form here and sign the browser in as a user of its choosing (login CSRF):
    what the victim then does lands in that account. Scripts, curl and SAYMON's clients send
    no such header, and another site's page cannot use the API without CORS anyway."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CrossSiteLogIn()

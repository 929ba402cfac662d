"""JSON request bodies with unpaired UTF-16 surrogates are refused where they are parsed.

JSON may spell a character as a `\\u` escape, and Python decodes a lone "\\udc00" into a
string that cannot be encoded as UTF-8 again: stored in the database, hashed for the audit
table or echoed in a response, it raised UnicodeEncodeError and answered 500. Every router
uses `StrictJSONRoute`, whose request parses the body as usual and, when the body has a
`\\u` escape at all, walks the parsed value for such characters and answers 400 naming the
field. Escaped pairs (emoji and other characters beyond the BMP) are whole characters after
parsing and pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

_SURROGATE = re.compile("[\ud800-\udfff]")


def _find_surrogate(value: Any, where: str) -> str | None:
    """The place of the first unpaired surrogate in a parsed JSON value, or None."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        return None if found is None else f"{where} (U+{ord(found.group()):04X} at " \
            f"character {found.start()})"
    if isinstance(value, dict):
        for key, item in value.items():
            place = _find_surrogate(key, f"{where} key") or _find_surrogate(item,
                                                                           f"{where}.{key}")
            if place:
                return place
    elif isinstance(value, list):
        for i, item in enumerate(value):
            place = _find_surrogate(item, f"{where}.{i}")
            if place:
                return place
    return None


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            value = json.loads(body)
            if b"\\u" in body:
                place = _find_surrogate(value, "body")
                if place is not None:
                    raise HTTPException(400, f"{place}: an unpaired UTF-16 surrogate, which "
                                        "is not valid Unicode")
            self._json = value
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict

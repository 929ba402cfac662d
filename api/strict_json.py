"""JSON request bodies with unpaired UTF-16 surrogates are refused where they are parsed.

JSON may spell a character as a `\\u` escape, and Python decodes a lone "\\udc00" into a
string that cannot be encoded as UTF-8 again: stored in the database, hashed for the audit
table or echoed in a response, it raised UnicodeEncodeError and answered 500. Every router
uses `StrictJSONRoute`, whose request parses the body as usual and, when the body has a
`\\u` escape at all, walks the parsed value for such characters and answers 400 naming the
field. Escaped pairs (emoji and other characters beyond the BMP) are whole characters after
parsing and pass.

The same request refuses numbers JSON does not have: Python's parser accepts the literals
`NaN`, `Infinity` and `-Infinity` and turns `1e999` into infinity, and a NaN share once
passed every `>= 0` check (NaN compares false), priced a quote at NaN and answered 500 when
the audit row refused it. Every body is parsed by `screening.finite_json`, which refuses
them: a 400.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException

from screening.finite_json import NonFiniteNumberError, loads_finite

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
            try:
                value = loads_finite(body, "body")
            except NonFiniteNumberError as exc:
                raise HTTPException(400, str(exc)) from None
            if b"\\u" in body:
                place = _find_surrogate(value, "body")
                if place is not None:
                    raise HTTPException(400, f"{place}: an unpaired UTF-16 surrogate, which "
                                        "is not valid Unicode")
            self._json = value
        return self._json

    # -- multipart --------------------------------------------------------------------------
    # Starlette's parser drops a part the body ends inside of without a word, so a body cut
    # short (an interrupted upload, a client that never writes the closing boundary) reached
    # the route as "body.files: Field required". The stream is watched for the closing
    # delimiter as it passes (a rolling tail, nothing buffered); a body that ends without one
    # fails the parse, which closes the parts' spooled files, and answers 400 saying so.
    _closing: bytes | None = None

    async def stream(self) -> AsyncGenerator[bytes, None]:
        if self._closing is None:
            async for chunk in super().stream():
                yield chunk
            return
        closing, tail, closed = self._closing, b"", False
        async for chunk in super().stream():
            if not closed and chunk:
                seen = tail + chunk
                closed = closing in seen or seen.startswith(closing[2:])
                tail = seen[-(len(closing) - 1):]
            yield chunk
        if not closed:
            raise MultiPartException(
                "malformed multipart body: it ends before its closing boundary "
                f"({closing[2:].decode('latin-1')}); the upload was cut short or the body "
                "is not multipart")

    async def _get_form(self, **limits: Any) -> FormData:
        content_type, params = parse_options_header(self.headers.get("Content-Type"))
        boundary = params.get(b"boundary")
        if content_type == b"multipart/form-data" and boundary and self._form is None:
            self._closing = b"\r\n--" + boundary + b"--"
        return await super()._get_form(**limits)


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict

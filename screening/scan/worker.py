"""The screening worker of a scan: a Ray Data actor that opens the registry, the models and
the indexes once, then screens batches of items into result rows (RESULT_SCHEMA).

Every item becomes exactly one row: an unreadable file, a corrupt image, a text that is
not UTF-8 gives a row with `error` set, the same result `ipscreen screen` gives it; nothing
an item holds can fail the batch.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from models.imaging import DecodedImage, decode_image
from screening.errors import ImageDecodeError, InvalidInputError, IpscreenError
from screening.scan.sources import read_item
from screening.service import Workspace
from screening.settings import Settings
from screening.text.input import check_text, decode_text

MATCH_TYPE = pa.struct([
    ("external_id", pa.string()), ("title", pa.string()), ("owner", pa.string()),
    ("category", pa.string()), ("score", pa.float64()), ("decision", pa.string()),
    ("similarity_kind", pa.string())])
#: One row per item of a scan's results (parts/*.parquet).
RESULT_SCHEMA = pa.schema([
    ("index", pa.int64()), ("item", pa.string()), ("kind", pa.string()),
    ("decision", pa.string()), ("risk_score", pa.float64()), ("error", pa.string()),
    ("best_work", pa.string()), ("best_owner", pa.string()), ("best_category", pa.string()),
    ("best_score", pa.float64()), ("matches", pa.list_(MATCH_TYPE)),
    ("index_revision", pa.int64()), ("result", pa.string())])


def result_row(index: int, item: str, kind: str, result: dict) -> dict[str, Any]:
    """A result row from a screening result (ImageResult / TextResult .to_dict())."""
    matches = result.get("matches") or []
    best = matches[0] if matches else {}
    return {
        "index": index, "item": item, "kind": kind, "decision": result.get("decision"),
        "risk_score": result.get("risk_score"), "error": result.get("error"),
        "best_work": best.get("external_id"), "best_owner": best.get("owner"),
        "best_category": best.get("category"), "best_score": best.get("score"),
        "matches": [{k: m.get(k) for k in MATCH_TYPE.names} for m in matches],
        "index_revision": (result.get("versions") or {}).get("index_revision"),
        "result": json.dumps(result, ensure_ascii=False, sort_keys=True)}


class ScreenWorker:
    """Ray Data callable class: one per worker process, reused for every batch."""

    def __init__(self, settings_json: str, profile: str | None,
                 paraphrase: bool | None) -> None:
        self.ws = Workspace(Settings.model_validate_json(settings_json), create=False,
                            progress=False)
        self.profile = profile
        self.paraphrase = paraphrase
        self._image: Any = None
        self._text: Any = None

    def image_screener(self) -> Any:
        if self._image is None:
            self._image = self.ws.image_screener(self.profile)
        return self._image

    def text_screener(self) -> Any:
        if self._text is None:
            self._text = self.ws.texts.screener(self.paraphrase)
        return self._text

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        out: list[dict[str, Any] | None] = [None] * len(rows)
        images: list[tuple[int, str, DecodedImage | str]] = []
        for i, row in enumerate(rows):
            if row["error"] is not None:
                out[i] = result_row(row["index"], row["item"], row["kind"],
                                    {"input": row["item"], "error": row["error"]})
            elif row["kind"] == "image":
                images.append((i, row["item"], self._decoded(row)))
            else:
                out[i] = result_row(row["index"], row["item"], "text", self._text_result(row))
        if images:
            results = self.image_screener().screen_decoded([(n, d) for _, n, d in images])
            for (i, _, _), result in zip(images, results, strict=True):
                out[i] = result_row(rows[i]["index"], rows[i]["item"], "image",
                                    result.to_dict())
        return pa.Table.from_pylist(out, RESULT_SCHEMA)

    def _decoded(self, row: dict) -> DecodedImage | str:
        try:
            data = read_item(row)
            assert isinstance(data, bytes)
            if len(data) > self.ws.limits.max_bytes:
                return (f"file is {len(data)} bytes, over the {self.ws.limits.max_bytes}-byte "
                        "limit (setting IPSCREEN_MAX_IMAGE_BYTES)")
            return decode_image(data, self.ws.limits)
        except ImageDecodeError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot read it: {exc.strerror or exc}"

    def _text_result(self, row: dict) -> dict:
        name, max_bytes = row["item"], self.ws.settings.max_text_bytes
        try:
            content = read_item(row)
            text = (check_text(content, max_bytes) if isinstance(content, str)
                    else decode_text(content, max_bytes))
            screener = self.text_screener()
            return screener.screen_text(text, name,
                                        paraphrase=screener.paraphrase_enabled).to_dict()
        except (InvalidInputError, IpscreenError) as exc:
            return {"input": name, "error": str(exc).removeprefix(f"{name}: ")}
        except OSError as exc:
            return {"input": name, "error": f"cannot read it: {exc.strerror or exc}"}

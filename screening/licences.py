"""A licence's evidence and term: what a tenant must state to set a work's matches aside.

Licences are declared by the tenant itself, and an insured that could declare licences at
will could clear its own sample before the underwriter prices it. So a licence is recorded
only by a key with the `licence` scope (screening/access.py), with the evidence an
underwriter or a court would ask for: who granted it (licensor), the contract it rests on,
its term, the territory and the media it covers. It applies at screening time only while
its term runs, and the underwriting profile shows the hits it sets aside with this evidence
(screening/underwriting/licensed.py) instead of letting them vanish.

The term: `valid_from` to `expires`, both days included, in UTC dates. `expires` is always
stated: a date, or null together with `perpetual: true`, so that a licence without an end
is a declaration and never an omission. The territory is `worldwide` or a list of
two-letter codes (ISO 3166-1 alpha-2, and `EU`, as the applicant's jurisdictions are
written); it is evidence for the underwriter, not checked at screening time, where the
output's territory is unknown. The media (`image`, `text` or `all`) is checked: a licence
for images does not clear a text output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from screening.errors import InvalidInputError

Media = Literal["image", "text", "all"]
MEDIA: tuple[Media, ...] = ("image", "text", "all")
WORLDWIDE = "worldwide"
#: what licences recorded before evidence was required (migration 0008) say about it
MISSING_EVIDENCE = "recorded before evidence was required"
_CODE = re.compile(r"[A-Z]{2}")
#: more codes than there are countries is not a territory but a mistake
MAX_TERRITORIES = 300


def today_utc() -> date:
    return datetime.now(UTC).date()


def check_field(value: str, what: str, limit: int) -> str:
    """`value` stripped, refused when empty or longer than `limit` characters."""
    value = value.strip()
    if not value:
        raise InvalidInputError(f"{what} is empty; a licence names its {what}")
    if len(value) > limit:
        raise InvalidInputError(f"{what} is longer than {limit} characters")
    return value


def check_territory(territory: str | Sequence[str]) -> tuple[str, ...]:
    """('worldwide',) or sorted distinct upper-case two-letter codes."""
    if isinstance(territory, str):
        territory = [territory]
    if not territory:
        raise InvalidInputError(f"territory is empty; give {WORLDWIDE!r} or a list of "
                                "two-letter jurisdiction codes (CN, US, EU, ...)")
    if len(territory) > MAX_TERRITORIES:
        raise InvalidInputError(f"territory lists more than {MAX_TERRITORIES} codes")
    if any(t.strip().lower() == WORLDWIDE for t in territory):
        if len(territory) > 1:
            raise InvalidInputError(f"territory: {WORLDWIDE!r} stands alone, not among codes")
        return (WORLDWIDE,)
    codes = [t.strip().upper() for t in territory]
    bad = [t for t in codes if not _CODE.fullmatch(t)]
    if bad:
        raise InvalidInputError(f"territory: {bad[0]!r} is not a two-letter jurisdiction code "
                                f"(ISO 3166-1 alpha-2 such as CN, US, or EU) nor {WORLDWIDE!r}")
    return tuple(sorted(set(codes)))


def check_term(valid_from: date, expires: date | None, perpetual: bool,
               today: date | None = None) -> None:
    """A term that can apply: an end date not before the start nor already past, or no end
    date only with `perpetual` stated."""
    if perpetual and expires is not None:
        raise InvalidInputError("expires: a perpetual licence has no expiry (send null)")
    if expires is None and not perpetual:
        raise InvalidInputError("expires: give the last day of the licence, or null with "
                                "perpetual: true for a licence without end")
    if expires is not None and expires < valid_from:
        raise InvalidInputError(f"expires: {expires.isoformat()} is before valid_from "
                                f"{valid_from.isoformat()}")
    if expires is not None and expires < (today or today_utc()):
        raise InvalidInputError(f"expires: {expires.isoformat()} is past; an ended licence "
                                "sets nothing aside")


@dataclass(frozen=True)
class LicenceTerms:
    """What a tenant states when it records a licence, checked on construction."""

    licensor: str
    contract_ref: str
    valid_from: date
    expires: date | None
    territory: tuple[str, ...]
    media: Media = "all"
    perpetual: bool = False

    @classmethod
    def of(cls, *, licensor: str, contract_ref: str, valid_from: date,
           expires: date | None, territory: str | Sequence[str], media: str = "all",
           perpetual: bool = False, today: date | None = None) -> LicenceTerms:
        if media not in MEDIA:
            raise InvalidInputError(f"media must be one of {', '.join(MEDIA)}; got {media!r}")
        check_term(valid_from, expires, perpetual, today)
        return cls(check_field(licensor, "licensor", 300),
                   check_field(contract_ref, "contract_ref", 200), valid_from, expires,
                   check_territory(territory), media, perpetual)


def covers(evidence: dict, kind: str | None) -> bool:
    """Whether a licence (its evidence dict) covers outputs of `kind` (image, text)."""
    media = evidence.get("media", "all")
    return media == "all" or media == kind


def status(valid_from: date | None, expires: date | None, today: date) -> str:
    """in_force, expired or not_yet_valid (no term recorded: in force, see 0008)."""
    if valid_from is not None and today < valid_from:
        return "not_yet_valid"
    if expires is not None and today > expires:
        return "expired"
    return "in_force"

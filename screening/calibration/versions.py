"""Calibrators refitted from verdicts, versioned in the registry database.

`ipscreen calibrate --from-verdicts` writes a new version for everyone or for one tenant;
the service reads the active versions on every reloader tick (as it notices a new index
revision) and re-scores each match's copy probability with the one in force for the
requesting tenant: the tenant's own, else everyone's, else the packaged calibrator. The
calibrator is a function of the signals every match reports, so re-scoring after screening
gives exactly what screening with it would have, for the matches screening reported (those
the packaged calibrator put above the report threshold). Decisions made by another rule (a
derivative image's character probability, a short work reproduced whole) stand.
`--rollback` retires the newest version; the one before it is in force again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from screening.calibration import LogisticCalibrator
from screening.decision import DECISIONS, Decision, Thresholds, decide, match_risk, worst
from screening.errors import NotFoundError
from screening.registry.models import CalibrationVersion, utc_iso
from screening.registry.repository import check_no_surrogates


@dataclass
class ActiveCalibrations:
    """The versions in force: (calibrator name, tenant) -> calibrator; tenant "" is
    everyone's."""

    by_key: dict[tuple[str, str], LogisticCalibrator] = field(default_factory=dict)
    stamp: tuple[int, int] = (0, 0)

    def for_result(self, name: str, tenant: str) -> LogisticCalibrator | None:
        return self.by_key.get((name, tenant)) or self.by_key.get((name, ""))

    def apply(self, result: dict, tenant: str, t: Thresholds) -> dict:
        """The result re-scored by the version in force for `tenant` (unchanged if none)."""
        if "error" in result or not self.by_key:
            return result
        versions = result.get("versions", {})
        if "calibration_set" in versions:
            # the configuration in force: each of its calibrators' version in force, so a
            # sample's English and Chinese results still agree on it
            versions = {**versions, "calibration_set": sorted(
                f"{c.name}@{c.version}" if (c := self.for_result(n.partition("@")[0],
                                                                   tenant)) else n
                for n in versions["calibration_set"])}
            result = {**result, "versions": versions}
        name = str(versions.get("calibration", "")).partition("@")[0]
        cal = self.for_result(name, tenant)
        if cal is None:
            return result
        matches = []
        for m in result.get("matches", []):
            p = cal.probability(m.get("signals", {})) if all(
                f.partition(">")[0] in m.get("signals", {}) for f in cal.features) \
                else float(m["score"])
            own: Decision = decide(p, t)
            # another rule's decision stands (derivative, whole-work reproduction)
            other: Decision = m.get("decision", "clear") if (
                m.get("similarity_kind") == "derivative" or m.get("reproduction")) \
                else "clear"
            matches.append({**m, "score": round(p, 6), "decision": worst(own, other)})
        matches.sort(key=match_risk, reverse=True)
        decision = max((m["decision"] for m in matches), key=DECISIONS.index,
                       default="clear")
        return {**result, "matches": matches, "decision": decision,
                "risk_score": max((match_risk(m) for m in matches), default=0.0),
                "versions": {**versions, "calibration": f"{cal.name}@{cal.version}",
                             "calibration_scope": "tenant" if (name, tenant) in self.by_key
                             else "everyone"}}


class CalibrationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def stamp(self) -> tuple[int, int]:
        """Changes when a version is added or retired (cheap: polled by the reloader)."""
        with Session(self.engine) as s:
            top = s.scalar(select(func.max(CalibrationVersion.id))) or 0
            active = s.scalar(select(func.count(CalibrationVersion.id))
                              .where(CalibrationVersion.active.is_(True))) or 0
            return int(top), int(active)

    def active(self) -> ActiveCalibrations:
        out = ActiveCalibrations(stamp=self.stamp())
        with Session(self.engine) as s:
            rows = s.scalars(select(CalibrationVersion).where(
                CalibrationVersion.active.is_(True)).order_by(CalibrationVersion.id))
            for r in rows:  # the newest active row of each (name, tenant) wins
                out.by_key[(r.name, r.tenant)] = LogisticCalibrator.from_dict(
                    json.loads(r.body))
        return out

    def save(self, cal: LogisticCalibrator, tenant: str, report: dict) -> int:
        with Session(self.engine) as s, s.begin():
            row = CalibrationVersion(name=cal.name, tenant=tenant, version=cal.version,
                                     body=cal.to_json(), report=json.dumps(report),
                                     active=True)
            s.add(row)
            s.flush()
            return int(row.id)

    def current(self, name: str, tenant: str) -> LogisticCalibrator | None:
        """The version in force for a tenant (its own, else everyone's; None: packaged)."""
        return self.active().for_result(name, tenant)

    def rollback(self, name: str, tenant: str) -> dict:
        """Retire the newest active version of (name, tenant)."""
        check_no_surrogates(tenant, "tenant")
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(CalibrationVersion).where(
                CalibrationVersion.name == name, CalibrationVersion.tenant == tenant,
                CalibrationVersion.active.is_(True)).order_by(CalibrationVersion.id.desc())
                .limit(1))
            if row is None:
                who = f"tenant {tenant!r}" if tenant else "everyone"
                raise NotFoundError(f"no refitted {name} for {who} to roll back (the "
                                    "packaged calibrator is in force)")
            row.active = False
            return {"retired": f"{row.name}@{row.version}", "tenant": row.tenant}

    def history(self) -> list[dict]:
        with Session(self.engine) as s:
            return [{"id": r.id, "name": r.name, "tenant": r.tenant, "version": r.version,
                     "active": r.active, "created_at": utc_iso(r.created_at),
                     "report": json.loads(r.report)}
                    for r in s.scalars(select(CalibrationVersion)
                                       .order_by(CalibrationVersion.id))]

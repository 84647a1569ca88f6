"""Write docs/schemas/*.schema.json from gitrunr's pydantic models.

Run after changing gitrunr/models.py: `python scripts/gen_schemas.py`.
tests/test_docs.py fails while the committed schemas differ from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from gitrunr import decide, models, verify, views

SCHEMAS: dict[str, TypeAdapter[object] | type[BaseModel]] = {
    "event": models.EVENT_ADAPTER,  # type: ignore[dict-item]
    "plan-event": models.PLAN_EVENT_ADAPTER,  # type: ignore[dict-item]
    "run": models.RunSnapshot,
    "plan-record": models.PlanRecord,
    "artifact-index": models.ArtifactIndex,
    "ledger-format": models.LedgerFormat,
    "note": models.CommitNote,
    "active-run": models.ActiveRun,
    "pending-intervention": models.PendingIntervention,
    "config": models.RunrConfig,
    "audit-report": models.AuditReport,
    "run-list": models.RunList,
    "status": views.StatusReport,
    "ready": views.ReadyReport,
    "show-plan": views.PlanView,
    "show-run": views.RunView,
    "run-accept": views.Accepted,
    "artifacts": views.Artifacts,
    "progress": views.ProgressReport,
    "next": decide.NextReport,
    "verify": verify.VerifyReport,
    "submit": views.SubmitReport,
    "diagnose": views.DiagnoseReport,
    "receipt": views.ReceiptReport,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every schema."""
    out = {}
    for name, model in SCHEMAS.items():
        if isinstance(model, TypeAdapter):
            schema = model.json_schema(by_alias=True)
        else:
            schema = model.model_json_schema(by_alias=True)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$id": f"gitrunr/{name}/v{models.SCHEMA_VERSION}", **schema}
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> int:
    target = Path(__file__).resolve().parent.parent / "docs" / "schemas"
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text)
    print(f"wrote {len(SCHEMAS)} schemas to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

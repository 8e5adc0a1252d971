"""Task names and queues, Redis and S3 keys, the wire models' JSON schemas, the settings and the CLI are what other
programs and people rely on: they match the record in wire_contract.json, made from the code before the house was
regrouped. A deliberate change updates the record in the same commit (`python -m tests.repo.wire_snapshot`)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from tests.repo.wire_snapshot import snapshot

RECORD = json.loads((Path(__file__).with_name("wire_contract.json")).read_text())
CURRENT = snapshot()


@pytest.mark.parametrize("part", sorted(RECORD))
def test_what_other_programs_rely_on_is_unchanged(part: str) -> None:
    def lines(value: object) -> list[str]:
        return json.dumps(value, indent=1, sort_keys=True).splitlines()

    changes = list(difflib.unified_diff(lines(RECORD[part]), lines(CURRENT[part]), "recorded", "now", lineterm=""))
    assert changes == [], f"{part} changed (if on purpose: python -m tests.repo.wire_snapshot):\n" + "\n".join(changes)


def test_the_record_covers_every_task_queue_and_model() -> None:
    # a snapshot that lost a section would compare equal to nothing; these floors keep it honest
    worker = RECORD["tasks"]["worker"]
    assert "narrate.render" in worker["tasks"] and "narrate.voices" in worker["queues"]
    assert RECORD["tasks"]["pipelines"]["default_queue"] == "narrate.pipelines"
    assert {"RenderJob", "Manifest", "Synthesis"} <= set(RECORD["schemas"])
    assert RECORD["keys"]["job_record"] == "narrate:job:job_id"
    assert "narrate submit" in RECORD["cli"] and len(RECORD["settings"]) > 50

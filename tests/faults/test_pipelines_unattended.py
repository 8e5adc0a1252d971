"""A pipeline left alone: sources deleted while their renders run are still filed with their results, and the files
beside them are filed as usual, each rendered once. A real worker renders; the pipeline scans and settles in-process."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from producer.pipelines.config import Pipeline
from producer.pipelines.inbox import InboxContext, scan, settle
from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.faults.conftest import Row, _rows
from worker.settings import Settings
from worker.storage import Storage

pytestmark = [pytest.mark.e2e, pytest.mark.fault]  # real workers, as every test of the fault suite
TEXTS = {f"inbox/note-{n}.txt": f"Pipeline note number {n}, rendered while nobody watches." for n in range(6)}
DELETED = ("inbox/note-1.txt", "inbox/note-4.txt")


def test_17_sources_deleted_while_they_render_are_filed_and_the_others_with_them(
    fault_workers, stack_env, emulator, bucket, reference_clip
) -> None:
    emulator.control(tone_mode=True, latency=0.3)  # slow enough that the sources go while their jobs render
    fault_workers(count=1)
    ctx = InboxContext.from_settings(Settings())
    ctx.voices.add("narrator", prepare_clip_voice([ClipInput(*reference_clip)]), bucket=bucket)
    pipeline = Pipeline(
        name="left-alone", inbox=f"s3://{bucket}/inbox/", out=f"s3://{bucket}/audio/", voice="narrator", every="1s"
    )
    storage = Storage()
    for key, text in TEXTS.items():
        storage.put(bucket, key, text.encode(), content_type="text/plain")
    assert sorted(scan(pipeline, ctx=ctx).submitted) == sorted(TEXTS)
    for key in DELETED:
        storage.delete(bucket, key)  # renamed or deleted by someone while its job renders

    filed: list[str] = []
    deadline = time.monotonic() + 90
    while len(filed) < len(TEXTS):
        assert time.monotonic() < deadline, f"only {filed} filed"
        done = settle(pipeline, ctx=ctx)
        filed += done.processed + done.failed
        assert not done.failed, done.failed
        time.sleep(0.3)

    for key in TEXTS:
        result = json.loads(
            storage.get(bucket, key.replace("inbox/", "processed/left-alone/").replace(".txt", ".result.json"))
        )
        assert result["output_url"], result
        gone = key in DELETED
        assert gone == any("the source was gone from the inbox" in note for note in result.get("notes", [])), (
            key,
            result,
        )
    assert not list(storage.list(bucket, "inbox/")), "every source was filed or was gone"
    rendered = Counter(
        r["text"] for r in emulator.requests() if r["status"] == 200 and r["text"] in set(TEXTS.values())
    )
    assert set(rendered.values()) == {1}, "each file rendered once"
    _rows.append(
        Row(
            scenario="17-pipeline-sources-deleted",
            jobs=len(TEXTS),
            succeeded=len(TEXTS),
            failed=0,
            duplicates=0,
            lost=0,
            retries=0,
            extra_fish_calls=sum(n - 1 for n in rendered.values()),
        )
    )

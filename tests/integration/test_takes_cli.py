"""`narrate takes`: every passage of a book heard for real (chunk tasks in-process through the emulator, one chunk's
takes spoiled), with its takes, verdicts and place in the chapter file; while rendering and once finished."""

from __future__ import annotations

import json

from tests.integration.test_qc_report import SPOILED, finished, narrate, rendered, submitted


def test_every_passage_lists_its_takes_and_its_seconds_once_its_chapter_is_made(
    ctx, sent, bucket, voice, tmp_path, emulator
) -> None:
    plan = submitted(bucket, voice, tmp_path, "report")
    rendered(plan, ctx, emulator)

    rendering = narrate("takes", plan.book_id, "--json")

    assert rendering.exit_code == 0, rendering.output
    before = json.loads(rendering.output)
    assert [(p["chapter"], p["chunk"]) for p in before] == [(1, 1), (1, 2), (1, 3), (2, 1)]
    assert all(p["start"] is None and p["end"] is None for p in before), "no chapter file yet: no seconds"
    finished(plan, sent)

    passages = json.loads(narrate("takes", plan.book_id, "--json").output)

    texts = [chunk.text for chapter in plan.chapters for chunk in chapter.chunks]
    assert [p["text"] for p in passages] == texts
    for p in passages:
        assert set(p) >= {"chapter", "chunk", "text", "start", "end", "takes"}
        assert [t["chosen"] for t in p["takes"]] == [True], "one take each (report mode), chosen"
        assert set(p["takes"][0]) >= {"take", "chosen", "heard", "verdict"}
    first = [p for p in passages if p["chapter"] == 1]
    assert 0 < first[0]["start"] < first[0]["end"] <= first[1]["start"] < first[1]["end"] <= first[2]["start"]
    spoiled = passages[SPOILED[1]]
    assert spoiled["takes"][0]["verdict"] == "fail" and spoiled["takes"][0]["findings"]
    assert all(p["takes"][0]["verdict"] == "pass" for p in passages if p is not spoiled)


def test_flagged_and_one_chapter_narrow_the_list_and_a_wrong_id_says_so(ctx, sent, bucket, voice, tmp_path, emulator):
    plan = submitted(bucket, voice, tmp_path, "report")
    rendered(plan, ctx, emulator)
    finished(plan, sent)

    flagged = json.loads(narrate("takes", plan.book_id, "--flagged", "--json").output)
    second = json.loads(narrate("takes", plan.book_id, "--chapter", "2", "--json").output)
    table = narrate("takes", plan.book_id)
    beyond = narrate("takes", plan.book_id, "--chapter", "3")
    unknown = narrate("takes", "0" * 32)

    assert [(p["chapter"], p["chunk"]) for p in flagged] == [(1, 2)]
    assert [(p["chapter"], p["chunk"]) for p in second] == [(2, 1)]
    assert table.exit_code == 0 and "1.2" in table.output and "take 1: fail" in table.output, table.output
    assert beyond.exit_code == 2 and "the book has 2 chapters" in beyond.output
    assert unknown.exit_code == 2 and "no such book" in unknown.output

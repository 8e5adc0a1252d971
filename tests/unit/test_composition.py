"""The multipart plan of a composed object: the same bytes in the same order, in parts S3 accepts."""

from pathlib import Path

import numpy as np
import pytest

from worker.storage.multipart import Copy, Local, Remote, Upload, plan_parts

MIN, MAX = 100, 1_000  # small stand-ins for S3's 5 MiB and 5 GiB


def _local(tmp_path: Path, name: str, size: int) -> Local:
    path = tmp_path / name
    path.write_bytes(bytes(size))
    return Local(path)


def _spans(parts) -> list[tuple[str, int, int]]:
    """Every part's pieces as (source, start, end), joined where one ends and the next goes on."""
    spans: list[tuple[str, int, int]] = []
    for part in parts:
        pieces = part.pieces if isinstance(part, Upload) else (part.source,)
        for piece in pieces:
            span = (str(piece.path), 0, piece.size) if isinstance(piece, Local) else (piece.key, piece.start, piece.end)
            if spans and spans[-1][0] == span[0] and spans[-1][2] == span[1]:
                spans[-1] = (span[0], spans[-1][1], span[2])
            else:
                spans.append(span)
    return spans


def _check(parts, pieces) -> None:
    expected = [(str(p.path), 0, p.size) if isinstance(p, Local) else (p.key, p.start, p.end) for p in pieces if p.size]
    assert _spans(parts) == expected
    for part in parts[:-1]:
        assert MIN <= part.size <= MAX * 3, part
    for part in parts:
        if isinstance(part, Copy):
            assert part.size <= MAX


def test_big_chapters_are_copied_and_only_the_index_is_sent(tmp_path) -> None:
    head, tail = _local(tmp_path, "head", 40), _local(tmp_path, "tail", 7)
    pieces = [head, Remote("c1", 0, 500), Remote("c2", 0, 600), tail]
    parts = plan_parts(pieces, minimum=MIN, maximum=MAX)
    _check(parts, pieces)
    # The index tops itself up with the first 60 bytes of chapter 1; the rest is copied.
    assert parts[0] == Upload((head, Remote("c1", 0, 60)))
    assert parts[1:3] == [Copy(Remote("c1", 60, 500)), Copy(Remote("c2", 0, 600))]
    assert parts[3] == Upload((tail,))
    sent = sum(
        piece.size for part in parts if isinstance(part, Upload) for piece in part.pieces if isinstance(piece, Remote)
    )
    assert sent == 60


def test_short_chapters_are_downloaded_into_the_parts_around_them(tmp_path) -> None:
    pieces = [
        _local(tmp_path, "head", 10),
        Remote("a", 0, 30),
        Remote("b", 0, 150),
        Remote("c", 0, 20),
        Remote("d", 0, 400),
    ]
    parts = plan_parts(pieces, minimum=MIN, maximum=MAX)
    _check(parts, pieces)
    assert parts[-1] == Copy(Remote("d", 0, 400)) or isinstance(parts[-1], Copy)


def test_an_object_smaller_than_one_part_is_one_upload(tmp_path) -> None:
    pieces = [_local(tmp_path, "head", 10), Remote("a", 0, 30)]
    assert plan_parts(pieces, minimum=MIN, maximum=MAX) == [Upload(tuple(pieces))]


def test_a_range_larger_than_a_part_is_copied_in_pieces_none_too_short() -> None:
    parts = plan_parts([Remote("huge", 0, 2_050)], minimum=MIN, maximum=MAX)
    assert [p.size for p in parts] == [1_000, 950, 100]
    _check(parts, [Remote("huge", 0, 2_050)])


@pytest.mark.parametrize("seed", range(40))
def test_any_mix_keeps_every_byte_in_order_in_parts_s3_takes(tmp_path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pieces = [_local(tmp_path, "head", int(rng.integers(0, 300)))]
    for n in range(int(rng.integers(1, 30))):
        size = int(rng.choice([rng.integers(0, MIN), rng.integers(MIN, 3 * MAX)]))
        pieces.append(Remote(f"part{n}", 0, size))
    pieces.append(_local(tmp_path, "tail", int(rng.integers(0, 50))))
    _check(plan_parts(pieces, minimum=MIN, maximum=MAX), pieces)


def test_too_many_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 10000"):
        plan_parts([Remote(f"p{n}", 0, MIN) for n in range(10_001)], minimum=MIN, maximum=MAX)

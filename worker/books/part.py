"""A chapter's share of the .m4b: its mastered audio as AAC frames, and what the book needs to place them.

The chapter task writes it beside the book (`parts/NNN.aac` and `parts/NNN.npz`);
the book task joins the parts without decoding them and deletes them once the
book's manifest is written. The .npz holds the frame sizes, the chapter's
loudness meter (merged into the book's report), and a JSON record of the rest.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worker import keys
from worker.books.sentence_times import SentenceTime
from worker.books.subtitles import Cue
from worker.storage import Storage

AAC_TYPE = "audio/aac"


@dataclass(frozen=True)
class BookPart:
    chapter: int
    rate: int
    config: bytes  # the AAC AudioSpecificConfig
    sizes: np.ndarray  # one per frame
    lead_in: int  # samples of pause before the chapter's first word
    speech: int  # samples from the first word to the last
    true_peak_db: float
    cues: list[Cue]  # times from the chapter's first word
    meter: dict[str, np.ndarray]
    sentences: list[SentenceTime] = field(default_factory=list)  # times from the chapter's first word

    def save(self, storage: Storage, *, bucket: str, prefix: str, book_id: str, frames: Path) -> None:
        """The frames first, then the record: a record in S3 means its frames are there too."""
        storage.put_file(
            bucket, keys.book_part(prefix, book_id, self.chapter, "aac"), str(frames), content_type=AAC_TYPE
        )
        record = {
            "chapter": self.chapter,
            "rate": self.rate,
            "config": self.config.hex(),
            "lead_in": self.lead_in,
            "speech": self.speech,
            "true_peak_db": self.true_peak_db,
            "cues": [[cue.start, cue.end, cue.text] for cue in self.cues],
            "sentences": [sentence.to_json() for sentence in self.sentences],
        }
        buffer = io.BytesIO()
        # sizes big-endian, as the .m4b's index holds them: the book task uses them as they are
        np.savez(
            buffer,
            sizes=self.sizes.astype(">u4"),
            record=np.frombuffer(json.dumps(record).encode(), dtype=np.uint8),
            **{f"meter_{name}": value for name, value in self.meter.items()},
        )
        storage.put(
            bucket,
            keys.book_part(prefix, book_id, self.chapter, "npz"),
            buffer.getvalue(),
            content_type="application/octet-stream",
        )


def load_part(storage: Storage, *, bucket: str, prefix: str, book_id: str, chapter: int) -> BookPart | None:
    """The part's record, once its frames are in S3 whole; None when the chapter has no part (yet, or any more)."""
    raw = storage.get(bucket, keys.book_part(prefix, book_id, chapter, "npz"))
    if raw is None:
        return None
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        record = json.loads(arrays["record"].tobytes())
        meter = {name.removeprefix("meter_"): arrays[name] for name in arrays.files if name.startswith("meter_")}
        sizes = arrays["sizes"]
    if storage.size(bucket, keys.book_part(prefix, book_id, chapter, "aac")) != int(sizes.sum(dtype=np.int64)):
        return None  # frames gone, or not what the record says: the part is made again
    return BookPart(
        chapter=record["chapter"],
        rate=record["rate"],
        config=bytes.fromhex(record["config"]),
        sizes=sizes,
        lead_in=record["lead_in"],
        speech=record["speech"],
        true_peak_db=record["true_peak_db"],
        cues=[Cue(start=s, end=e, text=t) for s, e, t in record["cues"]],
        meter=meter,
        sentences=[SentenceTime.from_json(s) for s in record.get("sentences", [])],  # parts from before: none
    )


def delete_parts(storage: Storage, *, bucket: str, prefix: str, book_id: str, chapters: int) -> None:
    storage.delete_many(
        bucket,
        [
            keys.book_part(prefix, book_id, chapter, extension)
            for chapter in range(chapters)
            for extension in ("aac", "npz")
        ],
    )

"""Proof-listening as a submitter asks for it (`qc:` as batch files and pipelines write it), and what it comes to.

`--qc` and `--qc-retakes`, a batch entry's `qc:` and a pipeline's `qc:` are each a QcChoice: a mode, a number of
retakes and a language, any of them left unset. Choices are layered (an entry's own over the command line's), then
resolved: what is still unset comes from NARRATE_QC and NARRATE_QC_RETAKES, then, for a book, from its preset
(`standard` reports, `acx` retakes); a single job is off unless asked.

    qc: retake                                    # the mode alone
    qc: {mode: retake, retakes: 3, language: fr}  # or a mapping; each key may be left out

    QcChoice.model_validate("retake").resolved(settings, default="report", language="en")
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from worker.contract import QcMode, QualityCheck
from worker.settings import Settings

MODES: tuple[QcMode, ...] = ("off", "report", "retake")
MAX_RETAKES = 5
_KEYS = ("mode", "retakes", "language")
_HOW = "write off, report or retake, e.g. `qc: retake`, or a mapping such as `qc: {mode: retake, retakes: 3}`"


class QcChoice(BaseModel):
    """Proof-listening as one layer asks for it; None: this layer leaves it to the next."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: QcMode | None = None
    retakes: int | None = Field(None, ge=0, le=MAX_RETAKES)
    language: str | None = None  # the text's language tag, over a book's own

    @model_validator(mode="before")
    @classmethod
    def _as_written(cls, value: Any) -> Any:
        return _read(value)

    def over(self, under: QcChoice) -> QcChoice:
        """This choice, with what it leaves unset taken from `under`."""
        return QcChoice(
            mode=self.mode or under.mode,
            retakes=under.retakes if self.retakes is None else self.retakes,
            language=self.language or under.language,
        )

    def resolved(self, settings: Settings, *, default: QcMode, language: str = "") -> QualityCheck:
        """What a book's plan carries: this choice, else NARRATE_QC (NARRATE_QC_RETAKES), else `default` (the
        book's preset's); the language this choice names, else `language` (the book's) when it is a tag."""
        return QualityCheck(
            mode=self.mode or settings.qc or default,
            retakes=settings.qc_retakes if self.retakes is None else self.retakes,
            language=self.language or language_tag(language),
        )

    def for_job(self, settings: Settings) -> QualityCheck | None:
        """What a single job carries: None when off, so its message stays as it was before proof-listening."""
        check = self.resolved(settings, default="off")
        return None if check.mode == "off" else check


def language_tag(language: str) -> str:
    """`language` as the recognizer takes it ("en", "pt-BR": the first part lower-cased); "" when it is no tag."""
    first, _, rest = language.strip().replace("_", "-").partition("-")
    try:
        return QualityCheck(language=first.lower() + (f"-{rest}" if rest else "")).language
    except ValidationError:
        return ""


def _read(value: Any) -> Any:
    """`qc:` as a batch file or a pipeline writes it, as the fields of a QcChoice; ValueError says how to fix it."""
    if isinstance(value, QcChoice) or value is None:
        return value
    if isinstance(value, (str, bool)):
        return {"mode": _mode(value, what="")}
    if not isinstance(value, dict):
        raise ValueError(f"expected a mode or a mapping, got {type(value).__name__}; {_HOW}")
    unknown = [str(key) for key in value if key not in _KEYS]
    if unknown:
        raise ValueError(
            f"unknown key {unknown[0]!r}; the keys are mode, retakes and language,"
            " e.g. `qc: {mode: retake, retakes: 3}`"
        )
    fields = dict(value)
    if fields.get("mode") is not None:
        fields["mode"] = _mode(fields["mode"], what="mode ")
    retakes = fields.get("retakes")
    if retakes is not None and (
        isinstance(retakes, bool) or not isinstance(retakes, int) or not 0 <= retakes <= MAX_RETAKES
    ):
        raise ValueError(
            f"retakes {retakes!r}: write a whole number from 0 to {MAX_RETAKES},"
            " the takes rendered again at most per chunk"
        )
    language = fields.get("language")
    if language is not None:
        tag = language_tag(language) if isinstance(language, str) else ""
        if not tag and language != "":
            raise ValueError(f"language {language!r} is not a language tag; write e.g. en, fr or pt-BR")
        fields["language"] = tag or None
    return fields


def _mode(value: Any, *, what: str) -> QcMode:
    if value is False:  # YAML reads a bare `off` as false
        return "off"
    if value is True:
        raise ValueError(
            f"{what}true (YAML reads yes and on so too) is no proof-listening mode; write report or retake"
        )
    mode = value.strip().lower() if isinstance(value, str) else value
    if mode not in MODES:
        raise ValueError(f"{what}{value!r} is no proof-listening mode; {_HOW}")
    return mode


# Defaults of the functions that take a choice (made once the readers above are defined).
NOT_ASKED = QcChoice()  # leaves everything to NARRATE_QC, NARRATE_QC_RETAKES and the preset
QC_OFF = QualityCheck()  # nothing heard

"""Lexicon files: W3C PLS, YAML and CSV, each refused by line when something in it is wrong.

    lexicon = read_lexicon(Path("names.yaml").read_bytes(), name="names.yaml")

PLS (`.pls`, `.xml`): `<lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme>`;
graphemes match as written (case-sensitive), whole words. Fish reads text, not
phonemes: a lexeme with a `<phoneme>` and no `<alias>` is refused.

YAML (`.yaml`, `.yml`), a mapping; a value is what Fish reads, or the entry's options:

    Hermione: Her-my-oh-nee
    US: {say: United States, case_sensitive: true}
    'Dr\\.\\s+(\\w+)': {say: 'Doctor \\1', regex: true}

CSV (`.csv`): a header naming `word,say` and any of `case_sensitive,whole_word,regex` (true/false).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import yaml
from lxml import etree

from worker.errors import BadInput
from worker.text.lexicon import Entry, Lexicon
from worker.text.lexicon_regex import GROUP_REFERENCE
from worker.text.linear_regex import UnsupportedPattern, compile_linear
from worker.text.normalize import normalize_text

LEXICON_SUFFIXES = {".pls": "pls", ".xml": "pls", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}
_PLS = "{http://www.w3.org/2005/01/pronunciation-lexicon}"
_OPTIONS = ("case_sensitive", "whole_word", "regex")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}
MAX_LEXICON_BYTES = 4 * 1024 * 1024


class LexiconError(BadInput):
    """A lexicon file that cannot be used; the message names the file and the line."""


def lexicon_kind(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in LEXICON_SUFFIXES:
        raise LexiconError(f"{name}: not a lexicon file; use .pls or .xml (W3C PLS), .yaml/.yml, or .csv")
    return LEXICON_SUFFIXES[suffix]


def read_lexicon(data: bytes, *, name: str) -> Lexicon:
    kind = lexicon_kind(name)
    if len(data) > MAX_LEXICON_BYTES:
        raise LexiconError(f"{name}: {len(data):,} bytes, over the {MAX_LEXICON_BYTES:,} a lexicon may have: split it")
    entries = list({"pls": _pls, "yaml": _yaml, "csv": _csv}[kind](data, name))
    if not entries:
        raise LexiconError(f"{name}: no entries; a lexicon lists at least one word and what to say instead")
    seen: dict[tuple[str, bool, bool], str] = {}
    for entry in entries:
        if entry.key() in seen:
            raise LexiconError(
                f"{entry.where}: {entry.word!r} is listed twice (first at {seen[entry.key()]}): keep one"
            )
        seen[entry.key()] = entry.where
    return Lexicon(entries)


def make_entry(
    word: Any, say: Any, *, where: str, case_sensitive: bool = False, whole_word: bool = True, regex: bool = False
) -> Entry:
    """An entry, normalized as the text it applies to is (curly quotes straight, one space)."""
    if not isinstance(word, str) or not word.strip():
        raise LexiconError(f"{where}: the word is empty: name the word to replace")
    if not isinstance(say, str) or not normalize_text(say):
        raise LexiconError(f"{where}: nothing to say for {word!r}: give the spelling Fish should read")
    say = " ".join(normalize_text(say).split())
    if regex:
        try:
            compiled = compile_linear(word)
        except UnsupportedPattern as exc:
            raise LexiconError(f"{where}: {word!r} is not a valid regular expression ({exc})") from None
        if compiled.fullmatch(""):
            raise LexiconError(f"{where}: the regular expression {word!r} matches empty text: it must match a word")
        for number, group in GROUP_REFERENCE.findall(say):
            if (number and int(number) > compiled.groups) or (
                group and group not in compiled.groupindex and not (group.isdigit() and int(group) <= compiled.groups)
            ):
                raise LexiconError(f"{where}: {say!r} names a group {word!r} does not have")
    else:
        word = " ".join(normalize_text(word).split())
    return Entry(word=word, say=say, case_sensitive=case_sensitive, whole_word=whole_word, regex=regex, where=where)


def _pls(data: bytes, name: str) -> Iterator[Entry]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise LexiconError(f"{name}:{exc.lineno}: not well-formed XML ({exc.msg})") from None
    if root.tag != f"{_PLS}lexicon":
        raise LexiconError(
            f"{name}:{root.sourceline}: the root is <{etree.QName(root).localname}>, expected a PLS <lexicon>"
            " in the namespace http://www.w3.org/2005/01/pronunciation-lexicon"
        )
    for lexeme in root.iter(f"{_PLS}lexeme"):
        where = f"{name}:{lexeme.sourceline}"
        graphemes = [g.text or "" for g in lexeme.iter(f"{_PLS}grapheme")]
        aliases = [a.text or "" for a in lexeme.iter(f"{_PLS}alias")]
        if not graphemes:
            raise LexiconError(f"{where}: a <lexeme> without a <grapheme>: name the word it is for")
        if not aliases:
            if any(True for _ in lexeme.iter(f"{_PLS}phoneme")):
                raise LexiconError(
                    f"{where}: {graphemes[0]!r} has only a <phoneme>; Fish reads text, not phonemes:"
                    " write an <alias> with a spelling to read instead"
                )
            raise LexiconError(f"{where}: {graphemes[0]!r} has no <alias>: say what to read instead")
        for grapheme in graphemes:
            yield make_entry(grapheme, aliases[0], where=where, case_sensitive=True)


def _yaml(data: bytes, name: str) -> Iterator[Entry]:
    try:
        root = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        raise LexiconError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise LexiconError(f"{name}:{line}: not valid YAML ({exc.problem})") from None
    if root is None:
        return
    if not isinstance(root, yaml.MappingNode):
        raise LexiconError(f"{name}:{root.start_mark.line + 1}: expected a mapping of `word: what to say`")
    for key, value in root.value:
        where = f"{name}:{key.start_mark.line + 1}"
        if not isinstance(key, yaml.ScalarNode):
            raise LexiconError(f"{where}: a word must be plain text")
        if isinstance(value, yaml.ScalarNode):
            yield make_entry(key.value, value.value, where=where)
        elif isinstance(value, yaml.MappingNode):
            options = {
                k.value: v.value
                for k, v in value.value
                if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)
            }
            if len(options) != len(value.value):
                raise LexiconError(f"{where}: {key.value!r}: options are plain `name: value` pairs")
            unknown = set(options) - {"say", *_OPTIONS}
            if unknown:
                raise LexiconError(
                    f"{where}: {key.value!r}: unknown option {sorted(unknown)[0]!r}; use say, {', '.join(_OPTIONS)}"
                )
            flags = {
                option: _flag(options[option], where=where, option=option) for option in _OPTIONS if option in options
            }
            yield make_entry(key.value, options.get("say"), where=where, **flags)
        else:
            raise LexiconError(
                f"{where}: {key.value!r}: expected what to say, or its options (say, {', '.join(_OPTIONS)})"
            )


def _csv(data: bytes, name: str) -> Iterator[Entry]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LexiconError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = [column.strip() for column in reader.fieldnames or []]
    if "word" not in header or "say" not in header:
        raise LexiconError(
            f"{name}:1: the header must name the columns word and say (and any of {', '.join(_OPTIONS)})"
        )
    unknown = set(header) - {"word", "say", *_OPTIONS}
    if unknown:
        raise LexiconError(f"{name}:1: unknown column {sorted(unknown)[0]!r}; use word, say, {', '.join(_OPTIONS)}")
    reader.fieldnames = header
    try:
        for row in reader:
            where = f"{name}:{reader.line_num}"
            if None in row:
                raise LexiconError(f"{where}: more fields than the header names (quote a value that holds a comma)")
            if not any((value or "").strip() for value in row.values()):
                continue
            flags = {
                option: _flag(row[option] or "", where=where, option=option) for option in _OPTIONS if option in row
            }
            yield make_entry(row["word"], row["say"], where=where, **flags)
    except csv.Error as exc:
        raise LexiconError(f"{name}:{reader.line_num}: not valid CSV ({exc})") from None


def _flag(value: str, *, where: str, option: str) -> bool:
    folded = str(value).strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return option == "whole_word" and folded == ""  # left empty: the default
    raise LexiconError(f"{where}: {option} is {value!r}: use true or false")

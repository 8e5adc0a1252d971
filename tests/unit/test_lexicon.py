"""Lexicons: three formats parsed, malformed files refused by line, entries applied whole-word, case-aware, never in
URLs."""

from __future__ import annotations

import pytest

from worker.books.plan import plan_chapter
from worker.contract import ModelVoice
from worker.text.chunking import split_text
from worker.text.lexicon import Entry, Lexicon
from worker.text.lexicon_files import LexiconError, read_lexicon

PLS = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme>
    <grapheme>W3C</grapheme>
    <alias>World Wide Web Consortium</alias>
  </lexeme>
  <lexeme><grapheme>Hermione</grapheme><grapheme>Hermiones</grapheme><alias>Her-my-oh-nee</alias></lexeme>
  <lexeme><grapheme>tomato</grapheme><phoneme>t@meIt@U</phoneme><alias>tomahto</alias></lexeme>
</lexicon>
"""

YAML = """# names in the book
Hermione: Her-my-oh-nee
US: {say: United States, case_sensitive: true}
'Dr\\.\\s+(\\w+)': {say: 'Doctor \\1', regex: true}
ing: {say: ING, whole_word: false}
Hogwarts’: Hog-warts
"""


def apply(lexicon: Lexicon, text: str) -> str:
    return lexicon.apply(text).text


def test_pls_graphemes_and_aliases_case_sensitive() -> None:
    lexicon = read_lexicon(PLS.encode(), name="names.pls")
    assert [(e.word, e.say, e.case_sensitive, e.where) for e in lexicon.entries] == [
        ("W3C", "World Wide Web Consortium", True, "names.pls:3"),
        ("Hermione", "Her-my-oh-nee", True, "names.pls:7"),
        ("Hermiones", "Her-my-oh-nee", True, "names.pls:7"),
        ("tomato", "tomahto", True, "names.pls:8"),  # with an alias, the phoneme is not needed
    ]
    assert (
        apply(lexicon, "The W3C met hermione and Hermione.")
        == "The World Wide Web Consortium met hermione and Her-my-oh-nee."
    )


def test_yaml_entries_with_options_and_normalized_words() -> None:
    lexicon = read_lexicon(YAML.encode(), name="names.yaml")
    assert [e.where for e in lexicon.entries] == [f"names.yaml:{n}" for n in range(2, 7)]
    text = "Dr. Watson said the US, not us, runs Hogwarts' singing HERMIONE."
    assert (
        apply(lexicon, text) == "Doctor Watson said the United States, not us, runs Hog-warts sINGING Her-my-oh-nee."
    )  # not a whole word: both times


def test_csv_entries() -> None:
    lexicon = read_lexicon(
        b'word,say,case_sensitive,regex\nNASA,nassa,true,\n"Smith, J.",John Smith,,\n', name="names.csv"
    )
    assert [(e.word, e.say, e.case_sensitive, e.where) for e in lexicon.entries] == [
        ("NASA", "nassa", True, "names.csv:2"),
        ("Smith, J.", "John Smith", False, "names.csv:3"),
    ]
    assert apply(lexicon, "NASA and nasa hired Smith, J. today.") == "nassa and nasa hired John Smith today."


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "a.pls",
            PLS.replace("</lexeme>\n  <lexeme><grapheme>Hermione", "\n  <lexeme><grapheme>Hermione", 1),
            r"a\.pls:\d+: not well-formed XML",
        ),
        (
            "a.pls",
            PLS.replace("<alias>tomahto</alias>", ""),
            r"a\.pls:8: 'tomato' has only a <phoneme>; Fish reads text, not phonemes",
        ),
        ("a.pls", PLS.replace("<grapheme>W3C</grapheme>", ""), r"a\.pls:3: a <lexeme> without a <grapheme>"),
        (
            "a.pls",
            "<lexicon><lexeme/></lexicon>",
            r"a\.pls:1: the root is <lexicon>, expected a PLS <lexicon> in the namespace",
        ),
        ("a.yaml", "Hermione: Her-my-oh-nee\nRon: [Ronn\n", r"a\.yaml:3: not valid YAML"),
        ("a.yaml", "Hermione: Her-my-oh-nee\nRon:\n", r"a\.yaml:2: nothing to say for 'Ron'"),
        ("a.yaml", "Hermione: a\nron: b\nRon: c\n", r"a\.yaml:3: 'Ron' is listed twice \(first at a\.yaml:2\)"),
        ("a.yaml", "Hermione: {say: a, loud: true}\n", r"a\.yaml:1: 'Hermione': unknown option 'loud'"),
        ("a.yaml", "'(Her': {say: a, regex: true}\n", r"a\.yaml:1: '\(Her' is not a valid regular expression"),
        ("a.yaml", "'x*': {say: a, regex: true}\n", r"a\.yaml:1: the regular expression 'x\*' matches empty text"),
        ("a.yaml", "'(x)': {say: '\\2', regex: true}\n", r"a\.yaml:1: .* names a group"),
        (
            "a.yaml",
            "Hermione: {say: a, case_sensitive: maybe}\n",
            r"a\.yaml:1: case_sensitive is 'maybe': use true or false",
        ),
        ("a.yaml", "- Hermione\n", r"a\.yaml:1: expected a mapping"),
        ("a.yaml", "# nothing yet\n", r"a\.yaml: no entries"),
        ("a.csv", "word,say\nNASA,nassa,extra\n", r"a\.csv:2: more fields than the header names"),
        ("a.csv", "name,say\nNASA,nassa\n", r"a\.csv:1: the header must name the columns word and say"),
        ("a.txt", "Hermione: a\n", r"a\.txt: not a lexicon file"),
    ],
)
def test_malformed_lexicons_are_refused_by_line(name: str, content: str, message: str) -> None:
    with pytest.raises(LexiconError, match=message):
        read_lexicon(content.encode(), name=name)


def test_whole_words_only_never_inside_words_or_urls() -> None:
    lexicon = Lexicon([Entry("Ron", "Ronn"), Entry("don", "Don")])
    text = (
        "Ron's friend Ronald met O'Ron and Ron-like Ron."
        " don't visit https://ron.example/Ron or ron@ron.org, www.ron.org/Ron."
    )
    assert apply(lexicon, text) == (
        "Ronn's friend Ronald met O'Ron and Ronn-like Ronn."
        " don't visit https://ron.example/Ron or ron@ron.org, www.ron.org/Ron."
    )


def test_longest_match_first_one_pass_and_later_entries_win() -> None:
    lexicon = Lexicon(
        [
            Entry("New York", "Noo York"),
            Entry("New York City", "the Big Apple"),
            Entry("York", "Yorick"),
            Entry("Apple", "APPLE"),
            Entry("new york", "later wins"),
        ]
    )
    # leftmost, then longest; the replacement is never matched again; "new york" (same key, case-insensitive) replaces
    # "New York"
    assert apply(lexicon, "New York City, then New York, then York.") == "the Big Apple, then later wins, then Yorick."
    assert apply(Lexicon.combine([Lexicon([Entry("Ron", "A")]), Lexicon([Entry("ron", "B")])]), "Ron") == "B"


def test_the_same_text_and_lexicon_always_give_the_same_chunks() -> None:
    lexicon = Lexicon([Entry("Hermione", "Her-my-oh-nee")])
    text = "Hermione laughed. " * 30 + "\n\nThe owl flew.\n\nHermione's wand glowed."
    first = plan_chapter(
        index=0, title="One", text=text, voice=ModelVoice(reference_id="v1"), model="s1", max_bytes=120, lexicon=lexicon
    )
    second = plan_chapter(
        index=0, title="One", text=text, voice=ModelVoice(reference_id="v1"), model="s1", max_bytes=120, lexicon=lexicon
    )
    assert first == second
    assert [bool(c.lexicon) for c in first.chunks] == ["Her-my-oh-nee" in c.text for c in first.chunks]
    assert first.chunks[-1].text == "Her-my-oh-nee's wand glowed." and first.chunks[-1].lexicon == ["Hermione"]
    plain = plan_chapter(
        index=0, title="One", text=text, voice=ModelVoice(reference_id="v1"), model="s1", max_bytes=120
    )
    owl = [c for c in first.chunks if c.text == "The owl flew."]
    assert owl and owl[0].key in {c.key for c in plain.chunks}  # a chunk without the word keeps its address


def test_entries_are_found_in_the_chunks_cut_from_the_text() -> None:
    lexicon = Lexicon([Entry("Hermione", "Her my oh nee"), Entry("owl", "barn owl")])
    replaced = lexicon.apply("An owl saw Hermione. " * 6)
    chunks = split_text(replaced.text, max_bytes=40)
    found = replaced.entries_in(chunks)
    assert all(("barn owl" in c) <= ("owl" in e) for c, e in zip(chunks, found))
    for chunk, entries in zip(chunks, found):
        assert ("Hermione" in entries) == any(part in chunk for part in ("Her my oh nee", "Her my", "oh nee", "nee."))


def test_a_manifest_entry_names_its_lexicons_after_the_command_lines(tmp_path) -> None:
    import json

    from producer.submit.batches import plan_work
    from producer.submit.lexicons import read_lexicon_files
    from worker.errors import BadInput
    from worker.settings import Settings

    (tmp_path / "names.yaml").write_text("Hermione: Her-my-oh-nee\n")
    (tmp_path / "cli.csv").write_text("word,say\nRon,Ronn\nHermione,Hermy\n")
    (tmp_path / "book.md").write_text("# One\n\nHermione and Ron.\n")
    manifest = tmp_path / "books.jsonl"
    entries = [
        {"file": "book.md", "out": "s3://b/x", "voice_id": "v1", "lexicon": "names.yaml"},
        {"text": "Ron.", "out": "s3://b/y", "voice_id": "v1", "lexicon": ["names.yaml"]},
    ]
    manifest.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    work = plan_work(
        Settings(),
        [str(manifest)],
        out=None,
        fmt=None,
        cli_voice=(None, None, None, None),
        lexicons=read_lexicon_files([tmp_path / "cli.csv"]),
    )
    [book] = work.books
    [group] = work.job_groups.values()
    assert [f.name for f in book.lexicons.files] == [f.name for f in group.lexicons.files] == ["cli.csv", "names.yaml"]
    assert book.lexicons.lexicon.apply("Hermione and Ron.").text == "Her-my-oh-nee and Ronn."  # the entry's file wins
    manifest.write_text(json.dumps({**entries[0], "lexicon": "missing.yaml"}) + "\n")
    with pytest.raises(
        BadInput,
        match=r"books.jsonl: line 1: `lexicon`: .*missing.yaml: no such file; paths are relative to the batch file",
    ):
        plan_work(Settings(), [str(manifest)], out=None, fmt=None, cli_voice=(None, None, None, None))
    (tmp_path / "names.yaml").write_text("Hermione:\n")
    manifest.write_text(json.dumps(entries[0]) + "\n")
    with pytest.raises(BadInput, match=r"books.jsonl: line 1: `lexicon`: names.yaml:1: nothing to say for 'Hermione'"):
        plan_work(Settings(), [str(manifest)], out=None, fmt=None, cli_voice=(None, None, None, None))

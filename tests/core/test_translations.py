"""The Russian catalogue (SPEC OWN-5) is complete and its committed ``.mo`` is what the ``.po`` compiles to.

``make run`` and ``make test`` need no gettext tools, so the compiled ``django.mo`` is committed; these
tests catch a ``.po`` edited without ``compilemessages``, an entry left untranslated or fuzzy, and a
translation that lost a placeholder (it would raise or print garbage at runtime). polib reads both
files in Python.
"""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parents[2] / "locale"
PO_PATH = LOCALE / "ru" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdir]|\{\w*\}")


def _key(entry: polib.POEntry | polib.MOEntry) -> tuple[str | None, str, str | None]:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural or None)


def _translation(entry: polib.POEntry | polib.MOEntry) -> tuple[str, ...]:
    if entry.msgid_plural:
        return tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
    return (entry.msgstr,)


@pytest.fixture(scope="module")
def po() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def test_every_entry_is_translated_and_none_is_fuzzy(po: polib.POFile) -> None:
    assert not po.metadata_is_fuzzy
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    assert [e.msgid for e in po.obsolete_entries()] == []


def test_the_committed_mo_is_the_compiled_po(po: polib.POFile) -> None:
    """Stale when someone changed the .po and forgot ``manage.py compilemessages`` (or the reverse)."""
    compiled = {_key(e): _translation(e) for e in polib.mofile(str(MO_PATH)) if e.msgid}
    source = {_key(e): _translation(e) for e in po.translated_entries()}
    missing = sorted(str(k[1]) for k in source.keys() - compiled.keys())
    extra = sorted(str(k[1]) for k in compiled.keys() - source.keys())
    changed = sorted(str(k[1]) for k in source.keys() & compiled.keys() if source[k] != compiled[k])
    assert (missing, extra, changed) == ([], [], [])


def test_translations_keep_their_placeholders(po: polib.POFile) -> None:
    broken = [
        e.msgid
        for e in po.translated_entries()
        for text in _translation(e)
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(e.msgid))
    ]
    assert broken == []


def test_the_checks_fail_on_a_stale_or_untranslated_catalogue(po: polib.POFile, tmp_path: Path) -> None:
    """The two checks above can fail: an entry changed after compiling, and an entry emptied."""
    edited = polib.pofile(str(PO_PATH))
    entry = edited.find("Vending")
    assert entry is not None
    entry.msgstr = "Торговые автоматы"
    compiled = {_key(e): _translation(e) for e in polib.mofile(str(MO_PATH)) if e.msgid}
    assert compiled[_key(entry)] != _translation(entry)
    entry.msgstr = ""
    assert [e.msgid for e in edited.untranslated_entries()] == ["Vending"]

"""Declarations in revision files: one comment form, a reason required, never read from strings."""

from __future__ import annotations

from mks_db.engine import declarations


def test_declarations_with_reasons_are_read():
    found = declarations.parse(
        "# mks-db: irreversible: the old format is gone\n"
        "x = 1  # mks-db: allow adding-field-with-default: the table is empty\n"
        "#mks-db: data-loss: cache only\n"
    )
    assert found.accepted("irreversible").reason == "the old format is gone"
    assert found.accepted("data-loss").line == 3
    assert found.allowed_rules()["adding-field-with-default"].reason == "the table is empty"


def test_a_declaration_without_a_reason_counts_for_nothing_and_says_so():
    found = declarations.parse("# mks-db: irreversible\n")
    assert found.accepted("irreversible") is None
    assert "line 1 is ignored" in found.hint("irreversible")
    assert declarations.parse("").hint("irreversible") == ""


def test_text_inside_a_docstring_is_not_a_declaration():
    found = declarations.parse('"""\n# mks-db: irreversible: only an example\n"""\n')
    assert found.get("irreversible") is None

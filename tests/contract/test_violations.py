"""The Violation record and its text forms."""

from __future__ import annotations

from sora2.contract import Violation, format_violations
from sora2.contract._violations import one_line


def test_str_is_one_readable_line() -> None:
    """A violation prints as side, pointer, message and rule on one line."""
    violation = Violation("/body/size", "enum", "'x' is not one of ['a']", "request", "submit")
    assert str(violation) == "request /body/size: 'x' is not one of ['a'] [enum]"


def test_to_dict_has_every_field() -> None:
    """The JSON form carries every field, so ``--json`` consumers lose nothing."""
    violation = Violation("/status", "status", "no", "response", "status", 418)
    assert violation.to_dict() == {
        "pointer": "/status",
        "rule": "status",
        "message": "no",
        "side": "response",
        "operation_id": "status",
        "status": 418,
    }


def test_one_line_collapses_and_caps() -> None:
    """Whitespace collapses and long text is cut with an ellipsis."""
    assert one_line("a\n  b") == "a b"
    assert one_line("x" * 300, limit=10) == "xxxxxxx..."


def test_format_violations_indents_each() -> None:
    """The report form is one indented line per violation."""
    found = [Violation("/a", "r", "m", "request"), Violation("/b", "r", "m", "response")]
    assert format_violations(found) == "  request /a: m [r]\n  response /b: m [r]"

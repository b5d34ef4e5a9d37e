"""The flows' driver protocol (``sora2._flows.next_step``), beyond what every call's tests pin."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from sora2._flows import Done, Sleep, next_step


def _flow(seen: list[str]) -> Generator[Any, Any, str]:
    try:
        value = yield Sleep(1.0)
        seen.append(f"value {value}")
        yield Sleep(2.0)
    except KeyError as exc:
        seen.append(f"caught {exc.args[0]}")
        return "handled"
    finally:
        seen.append("left")
    return "finished"


class TestNextStep:
    def test_a_steps_value_is_sent_back_and_the_return_is_done(self) -> None:
        """Each step's value goes back into the flow, and what the flow returns ends the drive."""
        seen: list[str] = []
        flow = _flow(seen)
        assert Sleep(1.0) == next_step(flow)
        assert Sleep(2.0) == next_step(flow, 7)
        assert Done("finished") == next_step(flow, None)
        assert ["value 7", "left"] == seen

    def test_a_steps_error_is_thrown_where_the_flow_handles_it(self) -> None:
        """A step's error is raised inside the flow, whose handlers and ``finally`` see it."""
        seen: list[str] = []
        flow = _flow(seen)
        next_step(flow)
        assert Done("handled") == next_step(flow, None, KeyError("lost"))
        assert ["caught lost", "left"] == seen

    def test_an_error_the_flow_does_not_handle_comes_out_as_it_was(self) -> None:
        """An error the flow lets through reaches the driver's caller unchanged."""
        seen: list[str] = []
        flow = _flow(seen)
        next_step(flow)
        error = ValueError("as it was")
        with pytest.raises(ValueError) as raised:
            next_step(flow, None, error)
        assert error is raised.value
        assert ["left"] == seen

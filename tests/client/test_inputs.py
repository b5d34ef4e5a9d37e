"""The submit input: fields read from the spec, exactly what is given is sent, every constraint
the spec states is checked before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from sora2 import InvalidInputError
from sora2._inputs import (
    NO_DEFAULT,
    PROMPT_INPUT,
    InputField,
    input_fields,
    input_schema,
    validate_input,
)
from sora2._refusals import describe_allowed
from sora2._spec import resolve
from sora2._types import NOT_GIVEN
from sora2.emulator import Emulator

from .helpers import Api

OPTIONAL = [name for name, field in input_fields().items() if not field.required]
WITH_CHOICES = [name for name, field in input_fields().items() if field.choices]
INTEGERS = [name for name, field in input_fields().items() if field.python_type is int]


def _valid() -> dict[str, Any]:
    """The smallest valid body: every required property, from the spec's examples."""
    body: dict[str, Any] = {}
    for name, field in input_fields().items():
        if field.required:
            examples = resolve(input_schema()["properties"][name]).get("examples", [])
            body[name] = examples[0] if examples else (field.choices or ("x",))[0]
    return body


class TestFields:
    def test_every_property_of_the_spec_is_a_field(self) -> None:
        """input_fields() lists the schema's properties in order, required as the spec says."""
        schema = input_schema()
        assert list(schema["properties"]) == list(input_fields())
        assert set(schema.get("required", [])) == {
            name for name, field in input_fields().items() if field.required
        }

    @pytest.mark.parametrize("name", list(input_fields()))
    def test_default_title_and_choices_follow_the_spec(self, name: str) -> None:
        """Each field's default, title and choices are the property's, or none."""
        prop = resolve(input_schema()["properties"][name])
        field = input_fields()[name]
        assert prop.get("default", NO_DEFAULT) == field.default
        assert prop.get("title") == field.title
        assert (tuple(prop["enum"]) if "enum" in prop else None) == field.choices


class TestWhatIsSent:
    def test_only_given_properties_are_sent(self) -> None:
        """Not given, None and NOT_GIVEN all mean "leave it to the service": nothing is filled."""
        body = _valid()
        assert body == validate_input(body)
        assert body == validate_input({**body, **dict.fromkeys(OPTIONAL)})
        assert body == validate_input({**body, **dict.fromkeys(OPTIONAL, NOT_GIVEN)})

    @pytest.mark.parametrize("name", WITH_CHOICES)
    def test_every_choice_is_sent_as_is(self, name: str) -> None:
        """Each allowed value passes through unchanged."""
        for choice in input_fields()[name].choices or ():
            assert {**_valid(), name: choice} == validate_input({**_valid(), name: choice})

    def test_a_property_the_spec_does_not_know_is_sent(self) -> None:
        """The input schema is open: an unknown property goes to the service as given."""
        assert {**_valid(), "not_in_the_spec": [1]} == validate_input(
            {**_valid(), "not_in_the_spec": [1]}
        )


class TestRefusals:
    @pytest.mark.parametrize("name", WITH_CHOICES)
    def test_a_value_outside_the_choices_names_the_allowed_ones(self, name: str) -> None:
        """An enum breach names the field and every allowed value."""
        field = input_fields()[name]
        assert field.choices is not None
        with pytest.raises(InvalidInputError) as caught:
            validate_input({**_valid(), name: "not-a-choice-" * 3})
        assert name == caught.value.field
        assert field.choices == caught.value.allowed
        for choice in field.choices:
            assert repr(choice) in str(caught.value)

    @pytest.mark.parametrize("name", INTEGERS)
    @pytest.mark.parametrize("value", ["8", True, 8.0])
    def test_integers_are_strict(self, name: str, value: Any) -> None:
        """ "8", True and 8.0 are not integers: the service would refuse them after sending."""
        with pytest.raises(InvalidInputError) as caught:
            validate_input({**_valid(), name: value})
        assert name == caught.value.field

    @pytest.mark.parametrize("name", [n for n, f in input_fields().items() if f.required])
    def test_a_missing_required_property_is_named(self, name: str) -> None:
        """A required property left out is refused, naming it."""
        body = _valid()
        del body[name]
        with pytest.raises(InvalidInputError) as caught:
            validate_input(body)
        assert name == caught.value.field
        assert "required" in str(caught.value)

    @pytest.mark.parametrize("prompt", ["", " ", "\t\n ", "\u3000"])
    def test_a_blank_prompt_is_refused(self, prompt: str) -> None:
        """The spec's pattern refuses a prompt of only whitespace, saying why."""
        assert input_fields()[PROMPT_INPUT].pattern is not None
        with pytest.raises(InvalidInputError) as caught:
            validate_input({**_valid(), PROMPT_INPUT: prompt})
        assert PROMPT_INPUT == caught.value.field
        assert "allowed" in str(caught.value)


class TestDescribeAllowed:
    @pytest.mark.parametrize(
        ("overrides", "words"),
        [
            ({"minimum": 0, "maximum": 10}, "an integer >= 0 and <= 10"),
            ({"exclusive_minimum": 0}, "an integer > 0"),
            ({"maximum": 2147483647}, "<= 2147483647"),
            ({"python_type": float, "minimum": 0.5}, "a number >= 0.5"),
            ({"python_type": str, "min_length": 1, "max_length": 5}, "a string of at least 1"),
            ({"python_type": str, "pattern": "^a"}, "matching the pattern ^a"),
            ({"python_type": str, "pattern": r"\S"}, r"matching the pattern \S"),
            ({"choices": (1, 2)}, "1, 2"),
        ],
    )
    def test_constraints_in_words(self, overrides: dict[str, Any], words: str) -> None:
        """What is allowed is said in words built from the spec's constraints."""
        values: dict[str, Any] = {
            "name": "n",
            "python_type": int,
            "required": False,
            "choices": None,
            "default": NO_DEFAULT,
        }
        values.update(overrides)
        assert words in describe_allowed(InputField(**values))


@pytest.mark.anyio
class TestThroughTheClient:
    async def test_a_blank_prompt_is_never_sent(self, api: Api, emulator: Emulator) -> None:
        """submit("   ") raises InvalidInputError; the service never hears of it."""
        with pytest.raises(InvalidInputError) as caught:
            await api.submit("   ")
        assert PROMPT_INPUT == caught.value.field
        assert 0 == emulator.stats.requests["submit"]

    async def test_inputs_are_keywords_and_reach_the_service(
        self, api: Api, emulator: Emulator
    ) -> None:
        """Every keyword given is sent and recorded with the job; nothing else is sent."""
        given = {name: input_fields()[name].choices[-1] for name in WITH_CHOICES}  # type: ignore[index]
        given["not_in_the_spec"] = 1
        submission = await api.submit("keywords", **given)
        view = emulator.job(submission.request_id)
        assert view is not None
        for name, value in given.items():
            assert value == view.body[name]
        assert {PROMPT_INPUT: 1, **dict.fromkeys(given, 1)} == dict(emulator.stats.inputs)

    async def test_prompt_twice_is_a_type_error(self, api: Api) -> None:
        """The prompt is positional; giving it again as a keyword is a TypeError."""
        with pytest.raises(TypeError):
            await api.submit("x", **{PROMPT_INPUT: "y"})

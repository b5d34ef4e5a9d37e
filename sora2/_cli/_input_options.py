"""The options that carry a job's inputs, built from the spec: one per input property, plus
``--input KEY=VALUE``, ``--input-file FILE`` and ``--model``."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import click

from .._inputs import PROMPT_INPUT, InputField, input_fields
from ._common import echo_err

__all__ = [
    "INPUT_PARAM_PREFIX",
    "RESERVED_OPTIONS",
    "input_option",
    "input_options",
    "max_cost_option",
    "model_option",
    "parse_input_value",
]

INPUT_PARAM_PREFIX = "input__"
"""Click parameter names of the per-property options, kept apart from the command's own."""
RESERVED_OPTIONS = frozenset(
    {
        "out",
        "timeout",
        "cancel_on_interrupt",
        "base_url",
        "emulator",
        "journal",
        "trust_host",
        "json",
        "verbose",
        "input",
        "input_file",
        "model",
        "max_cost",
        "help",
    }
)
"""Options the job commands already have: an input property of one of these names gets no
option of its own (``--input NAME=VALUE`` still sets it)."""


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


def _option_help(field: InputField) -> str:
    title, description = (field.title or "").strip(), _first_paragraph(field.description)
    text = f"{title}: {description}" if title and description else title or description
    text = text or field.name
    if field.required:
        text += " [required]"
    return text


def _shown_default(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def parse_input_value(text: str) -> Any:
    """``--input`` values: JSON when the text parses as JSON, else the text itself."""
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError:
        return text


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _JSONValue(click.ParamType):  # type: ignore[type-arg]
    """A value of no one scalar type (array, object, union): JSON, or else the text."""

    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return parse_input_value(value) if isinstance(value, str) else value


def _number_type(field: InputField) -> click.ParamType:  # type: ignore[type-arg]
    """INT/FLOAT, or a range with the spec's bounds (an exclusive bound of an integer becomes
    the next whole number inside it)."""
    if field.python_type is int:
        lows = [math.ceil(field.minimum)] if field.minimum is not None else []
        if field.exclusive_minimum is not None:
            lows.append(math.floor(field.exclusive_minimum) + 1)
        highs = [math.floor(field.maximum)] if field.maximum is not None else []
        if field.exclusive_maximum is not None:
            highs.append(math.ceil(field.exclusive_maximum) - 1)
        if not lows and not highs:
            return click.INT
        return click.IntRange(max(lows) if lows else None, min(highs) if highs else None)
    low_f = field.minimum if field.minimum is not None else field.exclusive_minimum
    high_f = field.maximum if field.maximum is not None else field.exclusive_maximum
    if low_f is None and high_f is None:
        return click.FLOAT
    return click.FloatRange(
        low_f,
        high_f,
        min_open=field.minimum is None and field.exclusive_minimum is not None,
        max_open=field.maximum is None and field.exclusive_maximum is not None,
    )


def input_option(field: InputField) -> click.Option:
    """The option of one input property, built from its spec: ``snake_case`` becomes
    ``--kebab-case``, a boolean ``--name/--no-name``, an enum a choice, an integer or number a
    range with the spec's bounds; help from title and description, the spec's default shown.

    Every option defaults to None, i.e. "not given": the service applies its own default.
    """
    flag = "--" + field.name.replace("_", "-")
    param = INPUT_PARAM_PREFIX + field.name
    help_text = _option_help(field)
    if field.has_default:  # shown, not applied: None means "not given", the service decides
        help_text += f"  [default: {_shown_default(field.default)}]"
    common: dict[str, Any] = {"default": None, "help": help_text}
    if field.choices is not None:
        by_text = {str(choice): choice for choice in field.choices}

        def convert(ctx: click.Context, parameter: click.Parameter, value: str | None) -> Any:
            return None if value is None else by_text[value]

        return click.Option(
            [flag, param], type=click.Choice(list(by_text)), callback=convert, **common
        )
    if field.python_type is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}", param], **common)
    if field.python_type in (int, float):
        return click.Option([flag, param], type=_number_type(field), **common)
    if field.python_type is str:
        return click.Option([flag, param], type=click.STRING, **common)
    return click.Option([flag, param], type=_JSONValue(), metavar="JSON", **common)


def _read_input_file(source: TextIO | None) -> dict[str, Any]:
    if source is None:
        return {}
    name = getattr(source, "name", "-")
    try:
        data = json.loads(source.read(), parse_constant=_not_json)
    except ValueError as exc:
        raise click.BadParameter(f"{name} is not JSON: {exc}", param_hint="--input-file") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{name} is not a JSON object", param_hint="--input-file")
    return data


def _input_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--input")
        found[key.strip()] = parse_input_value(value)
    return found


def _the_prompt(argument: str | None, inputs: dict[str, Any], source: str) -> Any:
    """The prompt to send: the PROMPT argument, else the one ``inputs`` holds (taken out of
    them). Both given and different: the argument wins, and stderr says so."""
    given = inputs.pop(PROMPT_INPUT, None)
    if argument is None:
        if given is None:
            raise click.UsageError(
                f"Missing argument 'PROMPT' (give it, or a \"{PROMPT_INPUT}\" in --input-file)"
            )
        return given
    if given is not None and given != argument:
        echo_err(f"note: the PROMPT argument wins over the {PROMPT_INPUT} in {source}")
    return argument


def model_option(function: Callable[..., None]) -> Callable[..., None]:
    """``--model ID``: one of the spec's models (listed in --help), default the spec's default
    model; the command gets it as ``model``."""
    from .._spec import default_model, models

    return click.option(
        "--model",
        "model",
        type=click.Choice(list(models())),
        default=default_model(),
        show_default=True,
        help="The model to run; each checks its own inputs (the options below are the default "
        "model's: give another model's inputs with --input KEY=VALUE).",
    )(function)


max_cost_option = click.option(
    "--max-cost",
    "max_cost",
    type=click.FloatRange(min=0),
    default=None,
    metavar="USD",
    help="Refuse before submitting when the estimated cost (from the model's price, see "
    "`sora2 price`) is over this many US dollars, or cannot be estimated.",
)


def input_options(function: Callable[..., None]) -> Callable[..., None]:
    """Add an option per input property of the spec but the PROMPT argument, plus
    ``--input KEY=VALUE`` and ``--input-file FILE``; the command gets them as ``inputs``.

    Precedence: an option (``--seconds 8``) wins over ``--input``, which wins over
    ``--input-file``. Only what was given is in ``inputs``; the rest is left to the service.

    ``--input-file`` holds the whole body, as RunComfy's CLI reads it. For a command with an
    optional PROMPT argument, its ``prompt`` (or ``--input prompt=...``) stands in for an
    omitted PROMPT, passed on as ``prompt``; a PROMPT given as well wins, and a note on stderr
    says so. A command without one (batch's defaults) keeps ``prompt`` among ``inputs``.
    """
    fields = [
        field
        for name, field in input_fields().items()
        if name != PROMPT_INPUT and name not in RESERVED_OPTIONS
    ]

    @functools.wraps(function)
    def wrapper(
        *args: Any, input_pairs: tuple[str, ...], input_file: TextIO | None, **kwargs: Any
    ) -> None:
        inputs = _read_input_file(input_file)
        from_file = PROMPT_INPUT in inputs
        inputs.update(_input_pairs(input_pairs))
        for field in fields:
            value = kwargs.pop(INPUT_PARAM_PREFIX + field.name, None)
            if value is not None:
                inputs[field.name] = value
        if PROMPT_INPUT in kwargs:  # a command with a PROMPT argument
            kwargs[PROMPT_INPUT] = _the_prompt(
                kwargs[PROMPT_INPUT], inputs, "--input-file" if from_file else "--input"
            )
        function(*args, inputs=inputs, **kwargs)

    decorated: Callable[..., None] = wrapper
    extra = [
        click.option(
            "--input-file",
            "input_file",
            type=click.File("r", encoding="utf-8"),
            default=None,
            metavar="FILE",
            help="The request body as a JSON object ('-' for stdin), prompt included (it "
            "stands in for a PROMPT not given). PROMPT, --input and the options above win "
            "over it.",
        ),
        click.option(
            "--input",
            "input_pairs",
            multiple=True,
            metavar="KEY=VALUE",
            help="Set any input (repeatable); VALUE is read as JSON when it parses, else as "
            "text. Validated like the options, which win over it.",
        ),
    ]
    for option in extra:
        decorated = option(decorated)
    params: list[click.Parameter] = decorated.__dict__.setdefault("__click_params__", [])
    # click applies parameters in reverse: appended last, they are listed first in --help.
    params.extend(reversed([input_option(field) for field in fields]))
    return decorated

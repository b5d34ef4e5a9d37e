"""What every job command shares: its options (where to send: the client's; what: the job's
inputs, built from the spec), the client they make, and how it prints its result: stdout
carries results only (one JSON object with ``--json``); progress, prompts and hints go to
stderr, so ``sora2 generate --json ... | jq`` always sees valid JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TextIO

import click

from .._exceptions import Sora2Error
from .._inputs import PROMPT_INPUT, InputField, input_fields
from .._options import DEFAULT_WAIT_TIMEOUT
from . import JsonOutput, record, translate_errors

if TYPE_CHECKING:
    from .._client import Client

__all__ = [
    "INPUT_PARAM_PREFIX",
    "RESERVED_OPTIONS",
    "Settings",
    "client_options",
    "echo_err",
    "emit",
    "id_command",
    "input_option",
    "input_options",
    "make_client",
    "max_cost_option",
    "model_option",
    "open_client",
    "parse_input_value",
    "timeout_option",
    "warn_unknown_cost",
]


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def emit(settings: Settings, payload: Mapping[str, Any], lines: Sequence[str]) -> None:
    """Print a command's result: ``payload`` as one JSON object, or ``lines`` for people."""
    if settings.json_output:
        record(settings.output, payload)
    else:
        for line in lines:
            click.echo(line)


@dataclass(frozen=True)
class Settings:
    """The options every job command takes, and how to turn them into a client."""

    base_url: str | None
    emulator: bool
    journal: str | None
    json_output: bool
    quiet: bool = False
    """``-q``: no progress display."""
    trusted_hosts: tuple[str, ...] = ()
    """``--trust-host``: more hosts downloads may come from."""
    no_journal: bool = False
    """``--no-journal``: record nothing (no resume after a crash)."""
    output: JsonOutput | None = dataclasses.field(default=None, repr=False, compare=False)
    """Where ``--json`` payloads go: ``main``'s, given to click as the context object."""

    @property
    def journal_option(self) -> str | Literal[False] | None:
        """The client's ``journal``: the path or URL given, None for the default, False for none."""
        return False if self.no_journal else self.journal

    def command(self, *words: str) -> str:
        """The shell command that repeats ``words`` against the same service and journal."""
        from .._paid import sora2_command

        return sora2_command(*words, **self._where())

    def resume_command(self, request_id: str | None = None) -> str:
        """``sora2 resume [ID]`` against the same service and journal: every resume hint."""
        from .._paid import resume_command

        return resume_command(request_id, **self._where())

    def _where(self) -> dict[str, Any]:
        journal = None if self.journal is None else str(self.journal)
        return {"base_url": self.base_url, "journal": journal, "trusted_hosts": self.trusted_hosts}


_SETTINGS = [item.name for item in dataclasses.fields(Settings) if item.name != "output"]
"""The client options' parameter names: the fields of :class:`Settings` they fill."""


@contextlib.contextmanager
def open_client(settings: Settings) -> Iterator[Client]:
    """An open client for one command, its library errors raised as CLI errors."""
    with translate_errors(settings), make_client(settings) as client:
        yield client


def make_client(settings: Settings) -> Client:
    """The client a command talks through. The one seam of the CLI: tests swap it for a client
    whose clock they share with the emulator, so nothing really sleeps."""
    from .._client import Client

    return Client(
        base_url=settings.base_url,
        emulator=settings.emulator,
        journal=settings.journal_option,
        trusted_hosts=settings.trusted_hosts,
    )


_COMMON_OPTIONS = (
    click.option(
        "--base-url",
        metavar="URL",
        default=None,
        help="Service URL [default: $RUNCOMFY_BASE_URL, then the spec's server].",
    ),
    click.option(
        "--emulator",
        is_flag=True,
        help="Run against an in-process emulator: no network, no token. Its jobs live only "
        "as long as this command.",
    ),
    click.option(
        "--journal",
        metavar="PATH|URL",
        default=None,
        help="The journal of submitted jobs: a SQLite file, or a postgresql:// URL shared by "
        "many processes (the postgres extra) [default: $SORA2_JOURNAL, then a file in the user "
        "data directory; a separate one for --emulator]. One that cannot record a job id "
        "refuses every submit (exit 2).",
    ),
    click.option(
        "--no-journal",
        is_flag=True,
        help="Record no job ids: nothing to resume after a crash or Ctrl-C.",
    ),
    click.option(
        "--trust-host",
        "trusted_hosts",
        multiple=True,
        metavar="HOST",
        help="Also download output files from HOST (repeatable): a name, a suffix such as "
        ".example.com, an IP address or a network such as 10.0.0.0/8 (only these reach a "
        "private address). Besides the API's host and *.runcomfy.net, *.runcomfy.com; "
        "$SORA2_TRUSTED_HOSTS adds more.",
    ),
    click.option("--json", "json_output", is_flag=True, help="Print one JSON object on stdout."),
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Log requests, retries and polls on stderr (the token is redacted).",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Show no progress on stderr."),
)


def client_options(function: Callable[..., None]) -> Callable[..., None]:
    """Add ``--base-url``, ``--emulator``, ``--journal``/``--no-journal``, ``--trust-host``,
    ``--json``, ``-v`` and ``-q``, passed as ``settings`` (with click's context object, the
    JSON output ``main`` collects)."""

    @click.pass_obj
    @functools.wraps(function)
    def wrapper(output: JsonOutput | None, /, *args: Any, verbose: bool, **kwargs: Any) -> None:
        settings = Settings(output=output, **{name: kwargs.pop(name) for name in _SETTINGS})
        if settings.no_journal and settings.journal is not None:
            raise click.UsageError("--journal and --no-journal exclude each other")
        with _log_to_stderr() if verbose else contextlib.nullcontext():
            function(*args, settings=settings, **kwargs)

    decorated: Callable[..., None] = wrapper
    for option in reversed(_COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated


def id_command(function: Callable[..., None]) -> click.Command:
    """A command whose one argument is a job's ID, with the client options."""
    return click.command()(click.argument("request_id", metavar="ID")(client_options(function)))


@contextlib.contextmanager
def _log_to_stderr() -> Iterator[None]:
    """``-v``: the ``sora2`` logger's DEBUG records on stderr (its filter redacts the token)."""
    from .._transports import logger

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def warn_unknown_cost(client: Client, model: str, inputs: Mapping[str, Any]) -> None:
    """Say on stderr that a job's cost cannot be estimated (when no --max-cost refuses it)."""
    with contextlib.suppress(Sora2Error):  # the submit says what is wrong with inputs
        estimate = client.price(model=model, **inputs)
        if not estimate.known:
            echo_err(f"warning: {estimate.basis}; submitting anyway")


timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help=f"Stop waiting after this long; the job goes on [default: {DEFAULT_WAIT_TIMEOUT:g}].",
)


# The job's inputs -----------------------------------------------------------------------------

INPUT_PARAM_PREFIX = "input__"
"""Click parameter names of the per-property options, kept apart from the command's own."""
RESERVED_OPTIONS = frozenset(
    {"out", "timeout", "cancel_on_interrupt", "input", "input_file", "model", "max_cost", "help"}
    | {"base_url", "emulator", "journal", "trust_host", "json", "verbose"}  # client options
)
"""Options the job commands have: an input property so named gets none (``--input`` sets it)."""


def _option_help(field: InputField) -> str:
    title = (field.title or "").strip()
    description = " ".join((field.description or "").strip().split("\n\n")[0].split())
    text = f"{title}: {description}" if title and description else title or description
    return (text or field.name) + (" [required]" if field.required else "")


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
    """INT/FLOAT, or a range with the spec's bounds (exclusive ones, for an integer, inclusive)."""
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
        shown = field.default if isinstance(field.default, str) else json.dumps(field.default)
        help_text += f"  [default: {shown}]"
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
    """``--model ID``: one of the spec's models (listed in --help), as ``model``."""
    from .._spec import default_model, models

    return click.option(
        "--model",
        type=click.Choice(list(models())),
        default=default_model(),
        show_default=True,
        help="The model to run; each checks its own inputs (the options below are the default "
        "model's: give another model's inputs with --input KEY=VALUE).",
    )(function)


max_cost_option = click.option(
    "--max-cost",
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
    for option in (
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
    ):
        decorated = option(decorated)
    params: list[click.Parameter] = decorated.__dict__.setdefault("__click_params__", [])
    # click applies parameters in reverse: appended last, they are listed first in --help.
    params.extend(reversed([input_option(field) for field in fields]))
    return decorated

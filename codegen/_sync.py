"""``python -m codegen sync SOURCE``: keep the spec in step with RunComfy's published schema.

The upstream input schema and output object (see ``codegen._upstream``) are normalised from
RunComfy's dialect (``codegen._dialect``) and merged into the spec's input schema (the submit
body) and output object (the result's ``output``). Nothing else in the spec is touched: paths,
errors and states are the spec's own.

Merging, keyword by keyword:

- properties are added, removed and merged; ``required`` follows the upstream, in the spec's
  order; ``type``, ``enum``, ``const``, ``default``, ``format`` and ``items`` are the upstream's,
  and one the upstream does not give is removed;
- a constraint (bounds, ``pattern``, ``additionalProperties``, ...) the upstream gives is the
  upstream's; one the upstream does not mention is a judgement call of the spec (the prompt's
  ``minLength``, every object open to new fields) and is kept, and listed in the report;
- titles, descriptions and examples are the upstream's where it has any, else the spec's; a
  description that records a "Judgement call" is always the spec's;
- an enum in the output (a response) is written as an *open enum*, ``anyOf`` of the known values
  and a plain string, the spec's forward-compatibility rule; enums in the input stay closed.

The spec file is edited with ruamel.yaml's round trip, so formatting, quoting and comments stay
as they are and the file's diff is the change and nothing more.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ._dialect import Note, normalise
from ._diff import SpecDiff, SpecVersion, diff_versions
from ._lint import lint_document
from ._paths import Layout
from ._sync_merge import (
    MODELS_PREFIX,
    Merger,
    SyncError,
    dump,
    open_enums,
    output_schema,
    submit_schema,
    yaml_handler,
)
from ._upstream import Upstream, UpstreamError, fetch_model, find_token, read_source

__all__ = ["SyncError", "SyncResult", "run_sync", "sync_text"]

EXIT_DIFFERS = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class SyncResult:
    """What syncing one upstream into one spec text gives."""

    upstream: Upstream
    old_text: str
    new_text: str
    diff: SpecDiff
    normalised: tuple[Note, ...]
    kept: tuple[Note, ...]
    problems: tuple[str, ...]
    round_trips: bool

    @property
    def changed(self) -> bool:
        return self.diff.old.document != self.diff.new.document

    def report(self) -> str:
        lines = [f"Upstream: {self.upstream.label}"]
        if self.upstream.model_id:
            lines[0] += f" (model {self.upstream.model_id})"
        skipped = [
            name
            for name, value in (
                ("input schema", self.upstream.input_schema),
                ("output schema", self.upstream.output_object),
            )
            if value is None
        ]
        if skipped:
            lines.append(
                f"No {' or '.join(skipped)} upstream: that part of the spec is left as it is."
            )
        for title, notes in (
            ("Normalised from RunComfy's dialect", self.normalised),
            ("Kept from the spec (judgement calls the upstream does not mention)", self.kept),
        ):
            if notes:
                lines += ["", f"{title}:", *(f"  {note}" for note in notes)]
        lines += ["", self.diff.report()]
        if not self.round_trips:
            lines += [
                "",
                "Warning: ruamel.yaml does not reproduce this spec file byte for byte; "
                "review its diff for formatting changes.",
            ]
        if self.problems:
            lines += ["", "The synced spec does not pass `codegen lint`; fix these by hand:"]
            lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


def sync_text(spec_text: str, upstream: Upstream, *, label: str = "spec") -> SyncResult:
    """Merge ``upstream`` into the spec ``spec_text``; nothing is written."""
    handler = yaml_handler()
    document = handler.load(spec_text)
    round_trips = dump(handler, document) == spec_text
    path, input_schema = submit_schema(document)
    spec_model = path[len(MODELS_PREFIX) :]
    if upstream.model_id and upstream.model_id.strip("/") != spec_model:
        raise SyncError(
            f"{upstream.label} describes model {upstream.model_id}, the spec model {spec_model}"
        )
    normalised: list[Note] = []
    merger = Merger(document)
    if upstream.input_schema is not None:
        schema, notes = normalise(upstream.input_schema, "input")
        normalised += notes
        merger.schema(input_schema, schema, "input", response=False)
    if upstream.output_object is not None:
        schema, notes = normalise(upstream.output_object, "output")
        normalised += notes
        schema = open_enums(schema, "output", normalised)
        merger.schema(output_schema(document), schema, "output", response=True)
    new_text = dump(handler, document)
    old_doc = yaml.safe_load(spec_text)
    new_doc = yaml.safe_load(new_text)
    diff = diff_versions(SpecVersion(label, old_doc), SpecVersion("upstream", new_doc))
    problems = tuple(lint_document(new_doc)) if new_doc != old_doc else ()
    return SyncResult(
        upstream,
        spec_text,
        new_text if new_doc != old_doc else spec_text,
        diff,
        tuple(normalised),
        tuple(merger.kept),
        problems,
        round_trips,
    )


def _spec_server(spec_text: str) -> str:
    document = yaml.safe_load(spec_text)
    servers = document.get("servers") if isinstance(document, dict) else None
    if not servers or not isinstance(servers[0], dict) or not servers[0].get("url"):
        raise SyncError("the spec names no server: pass --base-url")
    return str(servers[0]["url"])


def run_sync(
    layout: Layout,
    source: Path | None,
    *,
    live: str | None = None,
    base_url: str | None = None,
    mode: str = "report",
    transport: Any = None,
    environ: dict[str, str] | None = None,
) -> int:
    """The ``sync`` command. ``mode``: ``report``, ``check``, ``write`` or ``generate``.

    Exit status: 0 in step (or written); 1 when ``check`` finds a difference, or the written spec
    fails lint or generation; 2 when the source or the spec cannot be read.
    """
    spec = layout.spec
    try:
        spec_text = spec.read_text(encoding="utf-8")
        if live is not None:
            token = find_token(environ)
            if token is None:
                print(
                    "sync: --live needs an API token in RUNCOMFY_API_TOKEN, RUNCOMFY_TOKEN or "
                    "YOUR_API_TOKEN",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            upstream = fetch_model(
                live, base_url=base_url or _spec_server(spec_text), token=token, transport=transport
            )
        elif source is not None:
            upstream = read_source(source)
        else:
            print("sync: give a SOURCE file or --live MODEL_ID", file=sys.stderr)
            return EXIT_USAGE
        result = sync_text(spec_text, upstream, label=str(spec.relative_to(layout.root)))
    except (OSError, UpstreamError, SyncError) as exc:
        print(f"sync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(result.report())
    target = spec.relative_to(layout.root)
    if not result.changed:
        print(f"\n{target} is in step with the upstream schema.")
        return 0
    if mode == "check":
        print(f"\n{target} differs from the upstream schema; nothing written (--write to apply).")
        return EXIT_DIFFERS
    if mode == "report":
        print(f"\n{target} differs from the upstream schema; run with --write to apply.")
        return 0
    spec.write_text(result.new_text, encoding="utf-8")
    print(f"\nwrote {target}")
    if result.problems:
        return EXIT_DIFFERS
    if mode == "generate":
        from ._generate import GeneratorError, generate

        try:
            generated = generate(layout)
        except GeneratorError as exc:
            print(f"sync: generate failed: {exc}", file=sys.stderr)
            return EXIT_DIFFERS
        shown = (
            generated.relative_to(layout.root)
            if generated.is_relative_to(layout.root)
            else generated
        )
        print(f"regenerated {shown}")
    return 0

"""``python -m codegen sync SOURCE``: keep the spec in step with RunComfy's published schema.

The upstream input schema and output object (see ``codegen._upstream``) are normalised from
RunComfy's dialect (``codegen._dialect``) and merged into the input schema of the model the
source names (the JSON body of ``POST /v1/models/{model_id}``; a source that names none is the
default model's) and into the output object (the result's ``output``, shared by every model).
Nothing else in the spec is touched: paths, errors and states are the spec's own.
``--all`` does this for every page of ``spec/upstream/pages.yaml`` in turn.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ._dialect import Note, normalise
from ._diff import SpecDiff, SpecVersion, diff_versions
from ._lint import lint_document
from ._paths import PAGES_INDEX, Layout
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
from ._upstream import (
    Upstream,
    UpstreamError,
    fetch_model,
    find_token,
    page_model,
    read_source,
)

__all__ = [
    "PageEntry",
    "SyncError",
    "SyncResult",
    "read_pages",
    "run_sync",
    "run_sync_all",
    "sync_text",
]

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
    # The model the source describes picks the spec's operation: the page's own submit URL
    # (or the model document's model_id); a source that names none is the default model's.
    path, input_schema = submit_schema(document, upstream.model_id)
    if upstream.model_id is None:
        upstream = replace(upstream, model_id=path[len(MODELS_PREFIX) :])
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
    return _finish(
        layout, result.new_text if result.changed else spec_text, spec_text, result.problems, mode
    )


def _finish(
    layout: Layout, new_text: str, old_text: str, problems: tuple[str, ...], mode: str
) -> int:
    """Write (or not) the synced spec, and regenerate, as ``mode`` says; the exit status."""
    spec = layout.spec
    target = spec.relative_to(layout.root)
    if new_text == old_text:
        print(f"\n{target} is in step with the upstream schema.")
        return 0
    if mode == "check":
        print(f"\n{target} differs from the upstream schema; nothing written (--write to apply).")
        return EXIT_DIFFERS
    if mode == "report":
        print(f"\n{target} differs from the upstream schema; run with --write to apply.")
        return 0
    spec.write_text(new_text, encoding="utf-8")
    print(f"\nwrote {target}")
    if problems:
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


@dataclass(frozen=True)
class PageEntry:
    """One entry of ``spec/upstream/pages.yaml``: a saved model page and what it is."""

    model: str
    file: Path
    source: str
    complete: bool


def read_pages(layout: Layout) -> list[PageEntry]:
    """The entries of the pages index, in its order.

    Raises:
        SyncError: the index is missing or malformed.
    """
    index = layout.upstream / PAGES_INDEX
    try:
        raw = yaml.safe_load(index.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SyncError(f"cannot read {index}: {exc}") from None
    pages = raw.get("pages") if isinstance(raw, dict) else None
    if not isinstance(pages, list):
        raise SyncError(f"{index}: expected a list under 'pages'")
    found: list[PageEntry] = []
    for number, page in enumerate(pages, 1):
        if not isinstance(page, dict) or not page.get("model") or not page.get("file"):
            raise SyncError(f"{index}: entry {number} needs a model and a file")
        found.append(
            PageEntry(
                model=str(page["model"]).strip("/"),
                file=layout.upstream / str(page["file"]),
                source=str(page.get("source", "")),
                complete=page.get("complete", True) is not False,
            )
        )
    return found


def run_sync_all(layout: Layout, *, mode: str = "report") -> int:
    """``codegen sync --all``: every page of ``spec/upstream/pages.yaml`` merged into the spec,
    one after the other, each into the operation of the model its page names.

    Which operation a page syncs is read from the page itself (the model of its curl example's
    submit URL), checked against the index's ``model``; no list of models is written here. A
    page marked ``complete: false`` that holds no schema is reported and left out; any other
    unreadable page, or a page whose model the spec does not have, stops the command (exit 2).
    """
    spec = layout.spec
    try:
        original = spec.read_text(encoding="utf-8")
        pages = read_pages(layout)
    except (OSError, SyncError) as exc:
        print(f"sync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    text = original
    problems: tuple[str, ...] = ()
    for page in pages:
        shown = (
            page.file.relative_to(layout.root)
            if page.file.is_relative_to(layout.root)
            else page.file
        )
        print(f"== {page.model} ({shown})")
        try:
            try:
                upstream = read_source(page.file)
            except UpstreamError as exc:
                if page.complete:
                    raise
                model = page_model(page.file.read_text(encoding="utf-8"))
                if model != page.model:
                    raise SyncError(
                        f"{shown} names model {model}, pages.yaml says {page.model}"
                    ) from None
                submit_schema(yaml_handler().load(text), model)  # the spec must have it
                print(
                    f"No schema in the saved page ({exc}); it is marked incomplete, so the "
                    f"spec's model {model} is left as it is.\n"
                )
                continue
            if upstream.model_id is not None and upstream.model_id.strip("/") != page.model:
                raise SyncError(
                    f"{shown} describes model {upstream.model_id}, pages.yaml says {page.model}"
                )
            result = sync_text(
                text,
                replace(upstream, model_id=page.model),
                label=str(spec.relative_to(layout.root)),
            )
        except (OSError, UpstreamError, SyncError) as exc:
            print(f"sync: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(result.report() + "\n")
        text = result.new_text
        problems = result.problems
    return _finish(layout, text, original, problems, mode)

"""The one-line error for an import that fails because an optional extra is not installed.

sora2 is not on a package index, so ``pip install 'sora2[emulator]'`` would not work: the
advice is put in terms of how sora2 was installed. pip records where an installation came from
in the distribution's ``direct_url.json`` (PEP 610): a local folder (often editable: a clone),
a git URL, or an archive. The advice installs the extra from that same place, with the
interpreter that runs sora2.

Loaded only when an extra is missing: ``sora2._exceptions.needs_extra`` imports it then.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ._exceptions import MissingExtraError

__all__ = ["install_command", "missing_extra"]

_DIST = "sora2"


def _python() -> str:
    """``python`` when that is this interpreter on PATH, else this interpreter's full path."""
    found = shutil.which("python")
    with contextlib.suppress(OSError):
        if found is not None and os.path.samefile(found, sys.executable):
            return "python"
    return shlex.quote(sys.executable)


def _folder(url: str, cwd: Path) -> str:
    path = Path(unquote(urlparse(url).path))
    with contextlib.suppress(OSError):
        if path.resolve() == cwd.resolve():
            return "."
    return str(path)


def install_command(
    extra: str,
    direct_url: Mapping[str, Any] | None,
    *,
    source_tree: Path | None = None,
    python: str = "python",
    cwd: Path | None = None,
) -> str:
    """The pip command that adds ``extra`` to sora2 where it was installed from.

    Args:
        extra: the extra's name (``emulator``).
        direct_url: the installation's ``direct_url.json``; None when pip recorded none
            (installed from an index or a wheelhouse, or not installed at all).
        source_tree: the clone sora2 is imported from when it is not installed.
        python: the interpreter to name.
        cwd: the current directory (a folder that is it is shown as ``.``).
    """
    here = cwd or Path.cwd()
    pip = f"{python} -m pip install"
    if direct_url is not None:
        url = str(direct_url.get("url", ""))
        vcs = direct_url.get("vcs_info")
        dir_info = direct_url.get("dir_info")
        if isinstance(vcs, Mapping):
            revision = vcs.get("requested_revision") or vcs.get("commit_id")
            where = f"{vcs.get('vcs', 'git')}+{url}" + (f"@{revision}" if revision else "")
            return f"{pip} {shlex.quote(f'{_DIST}[{extra}] @ {where}')}"
        if isinstance(dir_info, Mapping) and url.startswith("file:"):
            folder = _folder(url, here)
            editable = "-e " if dir_info.get("editable") else ""
            return f"{pip} {editable}{shlex.quote(f'{folder}[{extra}]')}"
        if url:
            return f"{pip} {shlex.quote(f'{_DIST}[{extra}] @ {url}')}"
    if source_tree is not None:
        folder = _folder(source_tree.as_uri(), here)
        return f"{pip} -e {shlex.quote(f'{folder}[{extra}]')}"
    return f"{pip} {shlex.quote(f'{_DIST}[{extra}]')}"


def _direct_url() -> dict[str, Any] | None:
    try:
        text = metadata.distribution(_DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        found = json.loads(text) if text else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _source_tree() -> Path | None:
    """The clone sora2 is imported from, when it is not an installed distribution."""
    try:
        metadata.distribution(_DIST)
    except metadata.PackageNotFoundError:
        root = Path(__file__).resolve().parent.parent
        return root if (root / "pyproject.toml").is_file() else None
    return None


def missing_extra(feature: str, extra: str, module: str | None) -> MissingExtraError:
    """The error for ``feature`` needing ``extra``, whose ``module`` is not installed."""
    command = install_command(extra, _direct_url(), source_tree=_source_tree(), python=_python())
    missing = f" (no module named {module!r})" if module else ""
    return MissingExtraError(
        f"{feature} needs the [{extra}] extra{missing}; install it with: {command}",
        extra=extra,
        name=module,
    )

"""The package's public surface, the cost of importing it, and what installing it pulls in."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import sora2

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_ALL = {
    "NOT_GIVEN",
    "default_model",
    "known_models",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchProgress",
    "BatchRow",
    "BatchSummary",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "ContractViolationError",
    "CostEstimate",
    "CostLimitError",
    "DownloadError",
    "DownloadWriteError",
    "HostedFileVerdict",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidInputError",
    "JobFailedError",
    "JobRecord",
    "JobResult",
    "JobStatus",
    "JournalError",
    "Journal",
    "MissingExtraError",
    "JournalStore",
    "JournalUnavailableError",
    "PostgresJournal",
    "NoOutputError",
    "NotFoundError",
    "NotGiven",
    "OutputFile",
    "PermissionDeniedError",
    "RateLimitError",
    "Sora2Error",
    "Submission",
    "SubmissionUnknownError",
    "TransientDownloadError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
    "check_hosted_file",
}

HEAVY = (
    "attrs",
    "pydantic",
    "jsonschema",
    "starlette",
    "uvicorn",
    "av",
    "numpy",
    "stamina",
    "click",
)


class TestPublicSurface:
    def test_all_is_pinned(self) -> None:
        """Adding or removing a public name is a deliberate change to this list."""
        assert EXPECTED_ALL == set(sora2.__all__)

    def test_every_public_name_resolves(self) -> None:
        """Each name in __all__, lazy or not, is importable from the package."""
        for name in sora2.__all__:
            assert getattr(sora2, name) is not None, name

    def test_errors_share_one_root(self) -> None:
        """Every exported exception derives from Sora2Error."""
        errors = [
            getattr(sora2, n)
            for n in sora2.__all__
            if isinstance(getattr(sora2, n), type) and issubclass(getattr(sora2, n), BaseException)
        ]
        assert len(errors) > 10
        assert all(issubclass(e, sora2.Sora2Error) for e in errors)

    def test_unknown_attribute_raises_attribute_error(self) -> None:
        """A typo gets the usual AttributeError, not an import error."""
        try:
            sora2.Clinet  # type: ignore[attr-defined]  # noqa: B018
        except AttributeError as exc:
            assert "Clinet" in str(exc)
        else:  # pragma: no cover
            raise AssertionError("no AttributeError")


class TestImportCost:
    def test_import_sora2_loads_no_heavy_dependency(self) -> None:
        """`import sora2` stays cheap: the clients, emulator and checker load on first use."""
        code = (
            "import sys, json, sora2; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert [] == json.loads(out)

    def test_cli_help_does_not_load_the_emulator_stack(self) -> None:
        """`sora2 --help` imports neither the video stack nor the contract checker."""
        code = (
            "import sys, json\n"
            "from sora2._cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps([m for m in ('av', 'numpy', 'starlette', 'jsonschema')"
            " if m in sys.modules]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.splitlines()[-1]
        assert [] == json.loads(out)

    def test_client_against_the_emulator_never_imports_pydantic(self, tmp_path: Path) -> None:
        """A whole generate() against the emulator runs without pydantic (the `models` extra)."""
        loaded = _modules_after_a_generate(tmp_path)
        assert [] == sorted(m for m in loaded if m.partition(".")[0] == "pydantic")

    def test_a_generate_that_meets_no_failure_loads_no_failure_code(self, tmp_path: Path) -> None:
        """Typed errors, retries and the paid job's hint are loaded at a first failure only: a
        generate that meets none imports neither them nor stamina."""
        loaded = _modules_after_a_generate(tmp_path)
        failure_only = ("sora2._errors", "sora2._retry", "sora2._paid", "stamina")
        assert [] == [m for m in failure_only if m in loaded]


def _modules_after_a_generate(tmp_path: Path) -> set[str]:
    """Every module a fresh interpreter holds after one whole generate() against the emulator
    (which saved a non-empty video)."""
    code = (
        "import json, sys\n"
        "import sora2\n"
        "from sora2.emulator import SyncASGITransport, create_app\n"
        "transport = SyncASGITransport(create_app(speed=1000))\n"
        "with sora2.Client('token', transport=transport, journal=sys.argv[1]) as client:\n"
        "    paths = client.generate('A red kite over a beach', out=sys.argv[2])\n"
        "print(json.dumps([all(p.stat().st_size > 0 for p in paths), sorted(sys.modules)]))"
    )
    argv = [sys.executable, "-c", code, str(tmp_path / "j.sqlite3"), str(tmp_path / "v.mp4")]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    saved, modules = json.loads(out.splitlines()[-1])
    assert saved
    return set(modules)


def _project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project: dict[str, Any] = tomllib.load(f)["project"]
    return project


class TestPackaging:
    def test_pydantic_is_only_in_the_models_extra(self) -> None:
        """`pip install sora2` leaves pydantic out; `sora2[models]` brings it for sora2_models."""
        project = _project()
        models = project["optional-dependencies"]["models"]
        assert "pydantic" not in {Requirement(r).name for r in project["dependencies"]}
        assert "pydantic" in {Requirement(r).name for r in models}

    def test_no_runtime_dependency_pulls_pydantic(self) -> None:
        """No runtime dependency requires pydantic, directly or through its own dependencies."""
        todo = [Requirement(r) for r in _project()["dependencies"]]
        seen: set[str] = set()
        while todo:
            req = todo.pop()
            name = canonicalize_name(req.name)
            if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
                continue
            seen.add(name)
            todo.extend(Requirement(r) for r in metadata.requires(req.name) or [])
        assert "httpx" in seen
        assert "pydantic" not in seen

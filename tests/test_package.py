"""The package's public surface and the cost of importing it."""

from __future__ import annotations

import json
import subprocess
import sys

import sora2

EXPECTED_ALL = {
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "ContractViolationError",
    "DownloadError",
    "DownloadWriteError",
    "HostedFileVerdict",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidInputError",
    "JobRecord",
    "JobResult",
    "JobStatus",
    "Journal",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "RateLimitError",
    "Sora2Error",
    "Submission",
    "SubmissionUnknownError",
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

"""A missing extra is one clear line, with a pip command that works for how sora2 was
installed (it is not on a package index)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sora2 import ConfigurationError, MissingExtraError
from sora2._exceptions import needs_extra
from sora2._extras import install_command

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_MODULES = ("starlette", "uvicorn", "av", "numpy")
"""The emulator extra's modules; a child process is made to lack them (None in sys.modules)."""


class TestInstallCommand:
    @pytest.mark.parametrize(
        ("direct_url", "expected"),
        [
            (
                {"url": "file:///home/me/sora2", "dir_info": {"editable": True}},
                "python -m pip install -e '/home/me/sora2[emulator]'",
            ),
            (
                {"url": "file:///home/me/sora2", "dir_info": {}},
                "python -m pip install '/home/me/sora2[emulator]'",
            ),
            (
                {
                    "url": "https://github.com/me/sora2.git",
                    "vcs_info": {"vcs": "git", "commit_id": "abc123", "requested_revision": "v1"},
                },
                "python -m pip install 'sora2[emulator] @ git+https://github.com/me/sora2.git@v1'",
            ),
            (
                {
                    "url": "https://github.com/me/sora2.git",
                    "vcs_info": {"vcs": "git", "commit_id": "abc"},
                },
                "python -m pip install 'sora2[emulator] @ git+https://github.com/me/sora2.git@abc'",
            ),
            (
                {"url": "file:///tmp/w/sora2-0.1.0-py3-none-any.whl", "archive_info": {}},
                "python -m pip install 'sora2[emulator] @ file:///tmp/w/sora2-0.1.0-py3-none-any.whl'",
            ),
            (None, "python -m pip install 'sora2[emulator]'"),
        ],
        ids=["editable-clone", "folder", "git-revision", "git-commit", "wheel-file", "index"],
    )
    def test_from_where_it_was_installed(
        self, direct_url: dict[str, Any] | None, expected: str, tmp_path: Path
    ) -> None:
        """The extra is installed from the folder, git URL or archive pip recorded."""
        assert expected == install_command("emulator", direct_url, cwd=tmp_path)

    def test_the_current_folder_is_dot(self, tmp_path: Path) -> None:
        """A clone that is the current directory reads as the README writes it: ``.``."""
        found = {"url": tmp_path.as_uri(), "dir_info": {"editable": True}}
        assert "python -m pip install -e '.[codegen]'" == install_command(
            "codegen", found, cwd=tmp_path
        )

    def test_a_source_tree_that_is_not_installed(self, tmp_path: Path) -> None:
        """sora2 imported from a clone without being installed: install the clone, editable."""
        assert f"/x/bin/python -m pip install -e '{tmp_path}[emulator]'" == install_command(
            "emulator", None, source_tree=tmp_path, python="/x/bin/python", cwd=Path("/")
        )


class TestNeedsExtra:
    def test_a_missing_third_party_module_becomes_one_clear_error(self) -> None:
        """A third-party module that is not installed becomes MissingExtraError: also a
        ConfigurationError and an ImportError, naming the extra, the module and pip."""
        with pytest.raises(MissingExtraError) as caught, needs_extra("the thing", "emulator"):
            raise ModuleNotFoundError("No module named 'starlette'", name="starlette")
        error = caught.value
        assert isinstance(error, ConfigurationError) and isinstance(error, ImportError)
        assert ("emulator", "starlette") == (error.extra, error.name)
        assert str(error).startswith(
            "the thing needs the [emulator] extra (no module named 'starlette'); install it with: "
        )
        assert "-m pip install" in str(error) and "[emulator]" in str(error)

    def test_a_broken_import_of_sora2_itself_is_left_alone(self) -> None:
        """Only third-party modules are an extra's: a missing sora2 module is a bug, raised."""
        with pytest.raises(ModuleNotFoundError) as caught, needs_extra("x", "emulator"):
            raise ModuleNotFoundError("No module named 'sora2.nope'", name="sora2.nope")
        assert not isinstance(caught.value, MissingExtraError)


def _without(modules: tuple[str, ...], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a child Python where importing any of ``modules`` fails, as when the extra
    is not installed (None in sys.modules is the interpreter's own "not importable")."""
    hide = "".join(f"sys.modules[{name!r}] = None; " for name in modules)
    return subprocess.run(
        [sys.executable, "-c", f"import sys; {hide}{code}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )


class TestWithoutTheExtra:
    def test_sora2_emulator_is_one_line(self) -> None:
        """`sora2 emulator` without the emulator extra: one line, exit 4, no traceback."""
        done = _without(
            EMULATOR_MODULES,
            "from sora2._cli import main; sys.exit(main(sys.argv[1:]))",
            "emulator",
        )
        assert 4 == done.returncode
        (line,) = done.stderr.splitlines()
        assert line.startswith("sora2: error: sora2 emulator needs the [emulator] extra")
        assert "-m pip install" in line and "[emulator]" in line

    def test_importing_create_app_is_a_clear_import_error(self) -> None:
        """``from sora2.emulator import create_app`` raises an ImportError whose message says
        which extra and how to install it."""
        done = _without(
            EMULATOR_MODULES,
            "from sora2 import MissingExtraError\n"
            "try:\n"
            "    from sora2.emulator import create_app\n"
            "except ImportError as exc:\n"
            "    print(type(exc).__name__, isinstance(exc, MissingExtraError), exc)\n",
        )
        assert 0 == done.returncode, done.stderr
        assert done.stdout.startswith("MissingExtraError True the emulator needs the [emulator]")
        assert "-m pip install" in done.stdout

    def test_the_in_process_emulator_is_one_line(self) -> None:
        """``--emulator`` without the extra: the same one line, exit 4."""
        done = _without(
            EMULATOR_MODULES,
            "from sora2._cli import main; sys.exit(main(sys.argv[1:]))",
            "submit",
            "x",
            "--emulator",
        )
        assert 4 == done.returncode
        (line,) = done.stderr.splitlines()
        assert "needs the [emulator] extra" in line

    def test_python_m_codegen_is_one_line(self) -> None:
        """`python -m codegen` without the codegen extra: one line naming the extra and the
        pip command for this clone, exit 2, no traceback."""
        done = _without(
            ("yaml",),
            "import runpy; sys.argv = ['codegen', 'check']; "
            "runpy.run_module('codegen', run_name='__main__', alter_sys=True)",
        )
        assert 2 == done.returncode
        assert [
            "python -m codegen needs the [codegen] extra (no module named 'yaml'); install it "
            "with: python -m pip install -e '.[codegen]'"
        ] == done.stderr.splitlines()


def test_the_advice_is_loaded_only_when_an_extra_is_missing(tmp_path: Path) -> None:
    """With every extra installed, a generate against the in-process emulator never imports
    the module that writes the missing-extra advice."""
    code = (
        "import sys, sora2\n"
        "with sora2.Client(emulator=True, journal=sys.argv[1]) as client:\n"
        "    client.generate('a kite', out=sys.argv[2])\n"
        "print('sora2._extras' in sys.modules)\n"
    )
    argv = [sys.executable, "-c", code, str(tmp_path / "j.db"), str(tmp_path / "x.mp4")]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert 0 == done.returncode, done.stderr
    assert "False" == done.stdout.strip().splitlines()[-1]

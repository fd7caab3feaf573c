"""Issue 20: `credfix preflight` installs alone. The wheel is built from a copy of the source
(no requirements files), installed into a fresh virtual environment that has nothing else,
with pip resolving exactly the dependencies the wheel declares (boto3 and botocore, from the
package index or pip's cache), and the installed `credfix` runs `--help` and `preflight
--offline`; the verbs that need the `lambda` extra say so instead of failing with a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging
ROOT = Path(__file__).resolve().parents[2]
KEY = "AKIAY34FZKBOKMUTVV7A"


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh virtual environment holding the credfix wheel alone."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(
        ROOT / "lambdas", source / "lambdas", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(source)]
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("credfix-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False)  # nothing in it; the outer pip installs into it
    python = env_dir / "bin" / "python"
    done = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)])
    assert done.returncode == 0, done.stderr
    return env_dir / "bin"


def _environ(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CREDFIX_", "PYTHON"))}
    return {**keep, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", **extra}


def test_the_base_install_is_boto3_and_nothing_else(installed: Path) -> None:
    listed = _run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.metadata as m, json; "
            "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))",
        ]
    )
    names = set(json.loads(listed.stdout))
    assert {"credfix", "boto3", "botocore"} <= names
    assert not names & {"pydantic", "aws-lambda-powertools", "aws-cdk-lib", "constructs"}


def test_help_and_offline_preflight_run_on_the_base_install(installed: Path, tmp_path: Path) -> None:
    helped = _run([str(installed / "credfix"), "--help"], env=_environ(), cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "preflight" in helped.stdout and "Traceback" not in helped.stderr

    env = _environ(
        AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY="not-a-secret", AWS_DEFAULT_REGION="eu-west-1"
    )
    checked = _run(
        [str(installed / "credfix"), "preflight", "--offline", "--expect-source", "env"],
        env=env,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)  # not a terminal: the credfix.preflight/v1 document
    assert (report["schema"], report["winner"], report["offline"]) == ("credfix.preflight/v1", "env", True)

    mismatch = _run(
        [
            str(installed / "credfix"),
            "preflight",
            "--offline",
            "--expect-source",
            "container-role",
            "--format",
            "text",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert mismatch.returncode == 3 and "MISMATCH" in mismatch.stdout


def test_a_verb_that_needs_the_lambda_extra_says_which(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text("[]")
    done = _run(
        [str(installed / "credfix"), "diagnose", "--event", str(tmp_path / "e.json")],
        env=_environ(),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "credfix diagnose: needs the 'lambda' extra (missing module pydantic): pip install 'credfix[lambda]'"
    )

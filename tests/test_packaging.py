"""The wheel holds every module of the source tree, and the stages import from the wheel alone."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _source_modules() -> set[str]:
    """Every module an installed rlreason must have: rlreason/, with reward/ and conf/ mapped inside it."""
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "rlreason").rglob("*.py")}
    modules |= {"rlreason/reward/" + str(p.relative_to(ROOT / "reward")) for p in (ROOT / "reward").rglob("*.py")}
    modules |= {"rlreason/conf/" + str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.py")}
    return {m for m in modules if "__pycache__" not in m}


def _data_files() -> set[str]:
    """The configs, and the data files modules read at run time (the retention texts)."""
    configs = {"rlreason/conf/" + str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")}
    return configs | {str(p.relative_to(ROOT)) for p in (ROOT / "rlreason").rglob("data/*.jsonl")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # From a copy of the sources: a build/ folder left by an earlier build would hide a missing package.
    source, out = tmp_path_factory.mktemp("source") / "rlreason", tmp_path_factory.mktemp("wheel")
    skip = shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "runs", "multirun", "outputs")
    shutil.copytree(ROOT, source, ignore=skip)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (path,) = out.glob("rlreason-*.whl")
    return path


def test_the_wheel_holds_every_module_config_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert _source_modules() - names == set()
    assert len(_data_files()) > 20 and _data_files() - names == set()


def test_every_stage_imports_from_the_wheel_alone(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    code = (
        "import rlreason, rlreason.stages as s, importlib; "
        "[importlib.import_module(m) for m in s.STAGES.values()]; "
        "import rlreason.reward, rlreason.config; "
        # an editable install elsewhere would quietly provide what the wheel lacks: name every module's origin
        "print(sorted({str(m.__file__) for n, m in sys.modules.items() if n.startswith('rlreason') and m.__file__}))"
    )
    # -I: ignore the environment and the current directory, so only the unpacked wheel provides rlreason
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {code}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    origins = eval(result.stdout.strip().splitlines()[-1])
    assert len(origins) > 20 and [o for o in origins if not o.startswith(str(tmp_path))] == []

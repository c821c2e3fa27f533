"""requirements.txt parsing and the packflow line handling used by validate and --with-wheels."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from packflow.archive.wheels import split_packflow_requirement
from packflow.project.requirements import Requirement, canonical_name, installed_problem, parse_requirements

names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}([-_.][A-Za-z0-9]{1,5})?", fullmatch=True)
specs = st.sampled_from(["", "==1.0", ">=2,<3", "~=1.4", "!=0.1"])


@given(st.lists(st.tuples(names, specs), max_size=6), st.lists(st.sampled_from(
    ["# comment", "", "   ", "-r other.txt", "--index-url https://x/simple", "git+https://x/y.git"]), max_size=4))
def test_parse_finds_every_named_requirement(reqs, noise) -> None:
    lines = [f"{n}{s}" for n, s in reqs] + noise
    parsed = parse_requirements("\n".join(lines))
    assert [(r.name, r.specifier) for r in parsed] == list(reqs)


def test_parse_extras_markers_and_comments() -> None:
    parsed = parse_requirements("packflow[serve]==0.5.0 ; python_version>'3'  # pinned\nNumPy >= 1.24\n")
    assert parsed == [Requirement("packflow", "==0.5.0", "packflow[serve]==0.5.0 ; python_version>'3'"),
                      Requirement("NumPy", ">= 1.24", "NumPy >= 1.24")]
    assert canonical_name("Py_YAML.x") == "py-yaml-x"


def test_installed_problem() -> None:
    assert installed_problem(Requirement("numpy", "", "numpy")) is None
    assert "is not installed" in (installed_problem(Requirement("no-such-pkg-zz", "", "no-such-pkg-zz")) or "")
    assert "does not match the installed numpy" in (installed_problem(Requirement("numpy", "<1", "numpy<1")) or "")


def test_split_packflow_requirement() -> None:
    own, rest = split_packflow_requirement(["packflow[serve]==0.5.0", "numpy", "# c", "Packflow-Extras==1"])
    assert own == "packflow[serve]==0.5.0" and rest == ["numpy", "# c", "Packflow-Extras==1"]
    assert split_packflow_requirement(["numpy"]) == (None, ["numpy"])


def test_import_packflow_stays_light() -> None:
    code = ("import sys, packflow; import packflow.project, packflow.archive; "
            "print(sorted(m for m in ('pathspec', 'packaging', 'packflow.archive.wheels') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

"""Developer and CI sessions: ``nox -l`` lists them.

The test sessions install the *built wheel* of securehost (not the source tree), as users get it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import time
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typing", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

ROOT = Path(__file__).parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# Tests run on every interpreter that is present; set SECUREHOST_PYTHONS="3.11 3.13" to choose.
SELECTED = os.environ.get("SECUREHOST_PYTHONS", "").split() or PYTHONS
TEST_DEPS = [
    "pytest>=8",
    "hypothesis>=6.100",
    "pytest-xdist>=3.5",
    "build>=1.2",
    "installer>=0.7",
    "securesystemslib>=1.0",
    "hatchling>=1.24",  # example plugins are built with `python -m build --no-isolation` in tests
    "opentelemetry-sdk>=1.20",  # tests/test_metrics.py reads the OpenTelemetry export back
    "prometheus-client>=0.20",  # tests/test_metrics.py parses the Prometheus exposition
    "import-linter>=2.1",  # tests/test_layering.py breaks the layering contract on purpose
]


def _install_built_wheel(session: nox.Session) -> None:
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT), silent=True)
    (wheel,) = dist.glob("securehost-*.whl")
    session.install(f"{wheel}[otel,isolation]")
    # the version does not change between edits and venvs are reused: always put this build in place
    session.install("--force-reinstall", "--no-deps", str(wheel))


@nox.session(python=SELECTED)
def tests(session: nox.Session) -> None:
    """Run the test suite against the built wheel (``-- ARGS`` go to pytest)."""
    session.install("build", *TEST_DEPS)
    _install_built_wheel(session)
    args = session.posargs or ["-n", "auto", "--dist", "loadgroup"]
    session.run("python", "-m", "pytest", *args, env={"PYTHONHASHSEED": "0"})


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff lint and format check, and the layering contract of the subpackages (import-linter)."""
    session.install("ruff>=0.6", "import-linter>=2.1", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """Mypy in strict mode over the package."""
    session.install("mypy>=1.11", "-e", ".[otel,isolation]", "tomli", "pytest", "hypothesis")
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors, and run its doctests."""
    session.install("-e", ".", "sphinx>=7", "myst-parser>=3", "furo", "pytest", "hypothesis")
    out = ROOT / "docs" / "_build"
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", str(out / "html"))
    session.run("sphinx-build", "-W", "--keep-going", "-b", "doctest", "docs", str(out / "doctest"))


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks: print medians and ratios against the anchors measured in the same run."""
    session.install("build", "installer", "hatchling>=1.24")
    _install_built_wheel(session)
    session.run("python", str(ROOT / "benchmarks" / "run.py"), *session.posargs)


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """The end-to-end demos: build, sign, verify, install and load example plugins; then the orchestrator."""
    session.install("build", "installer", "hatchling>=1.24")
    _install_built_wheel(session)
    session.run("python", str(ROOT / "example_plugins" / "demo.py"), *session.posargs)
    session.run("python", str(ROOT / "example_plugins" / "orchestrator.py"), *session.posargs)


@nox.session(python="3.11")
def changelog(session: nox.Session) -> None:
    """Preview the changelog that towncrier would write."""
    session.install("towncrier")
    session.run("towncrier", "build", "--draft", "--version", "next")


@nox.session(python="3.11")
def pluggy_compat(session: nox.Session) -> None:
    """pluggy's own test suite (from its sdist) with SecurePluginManager substituted."""
    session.install("build", "pytest>=8")
    _install_built_wheel(session)
    version = session.run("python", "-c", "import pluggy; print(pluggy.__version__)", silent=True)
    version = str(version).strip()
    work = Path(session.create_tmp()) / "pluggy-compat"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    session.run(
        "python",
        "-m",
        "pip",
        "download",
        "--no-binary",
        ":all:",
        "--no-deps",
        f"pluggy=={version}",
        "--dest",
        str(work),
        silent=True,
    )
    (sdist,) = work.glob("pluggy-*.tar.gz")
    prefix = f"{sdist.name[: -len('.tar.gz')]}/testing/"
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not member.name.startswith(prefix) or not member.isfile() or ".." in member.name.split("/"):
                continue
            target = work / "testing" / member.name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    shutil.copy(ROOT / "tests" / "pluggy_compat" / "conftest.py", work / "conftest.py")
    # pluggy's own pytest settings (tox.ini [pytest]); securehost's configuration must not apply
    (work / "pytest.ini").write_text(
        "[pytest]\nminversion = 8.0\ntestpaths = testing\naddopts = -r a\nfilterwarnings =\n    error\n"
    )
    session.chdir(work)
    # "-p no:securehost": the pytest11 entry point of securehost itself is not under test here
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:securehost",
        *session.posargs,
        env={"SECUREHOST_PLUGGY_COMPAT": "1"},
    )


# Mutation testing (docs/mutation.md): each verification module is mutated on its own and checked against the tests
# written for it (the zip reader's and RECORD's own test files: the rest of tests/wheel runs them again through
# the wheel verifier, at ten times the cost per mutant). Module names are the dotted path below ``securehost``
# without the underscores.
MUTATION_MODULES = {
    "signing.envelope": ["tests/signing", "tests/trust/test_recheck_statement.py"],
    "signing.jsonstrict": ["tests/signing"],
    "signing.memo": ["tests/signing/test_sigmemo.py"],
    "signing.statement": ["tests/signing", "tests/trust/test_recheck_statement.py"],
    "signing.predicate": ["tests/signing"],
    "trust.policy": ["tests/trust"],
    "trust.verify": ["tests/trust", "tests/signing/test_sigmemo.py", "tests/wheel/test_wheel_verify.py"],
    "trust.load": ["tests/trust"],
    "trust.store": ["tests/trust"],
    "wheel.record": ["tests/wheel/test_record.py"],
    "wheel.zipcentral": ["tests/wheel/test_zipsafe.py"],
    "wheel.zipscan": ["tests/wheel/test_zipsafe.py"],
    "installed.archivepaths": ["tests/installed"],
    "installed.sitecheck": ["tests/installed"],
    "installed.sitehooks": ["tests/installed"],
    "installed.pyccheck": ["tests/installed"],
    "installed.bytecode": ["tests/installed"],
    "wheel.headers": ["tests/wheel/test_headers.py", "tests/wheel/test_wheelinfo.py", "tests/installed"],
    "installed.filerecord": ["tests/installed"],
    "installed.scancache": ["tests/installed/test_discovery.py", "tests/host/test_host_warm_state.py"],
    "installed.distcheck": ["tests/installed", "tests/test_review_findings.py"],
    "installed.entrycheck": ["tests/installed"],
    "installed.dependencies": ["tests/installed", "tests/test_review_findings.py"],
    "installed.depgate": ["tests/installed/test_depgate.py"],
    "host.recall": ["tests/host/test_statement_recall.py", "tests/host/test_host_warm_state.py"],
}
# mutmut exit codes (mutmut.stats.status_by_exit_code): 1 and 3 are kills, a timeout is a kill too
MUTANT_KILLED = {1, 3, 24, -24, 36, 152, 255}


def _mutation_source(module: str) -> str:
    folder, name = module.split(".")
    return f"src/securehost/_{folder}/{name}.py"


@nox.session(python="3.11")
def mutation(session: nox.Session) -> None:
    """Mutation score of the verification modules with mutmut (``-- trust.policy wheel.record`` for a subset).

    Slow (minutes per module), so it is not part of CI. Prints ``module: killed/total = score%`` and the survivors.
    """
    unknown = sorted(set(session.posargs) - set(MUTATION_MODULES))
    if unknown:
        session.error(f"unknown modules {unknown}; choose from {sorted(MUTATION_MODULES)}")
    modules = session.posargs or list(MUTATION_MODULES)
    session.install("mutmut==3.8.1", *TEST_DEPS)
    _install_built_wheel(session)

    lines = []
    for module in modules:
        work = Path(session.create_tmp()).resolve() / "mutation" / module
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        skip = shutil.ignore_patterns("__pycache__", ".hypothesis", "_build")
        for name in ("src", "tests", "docs", "example_plugins", "changelog.d"):
            shutil.copytree(ROOT / name, work / name, ignore=skip)
        for name in ("README.md", "CHANGELOG.md"):
            shutil.copy2(ROOT / name, work / name)
        # [tool.mutmut] in pyproject.toml names every module and all tests: narrow both to this module
        config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
        for key, value in (
            ("only_mutate", [_mutation_source(module)]),
            ("pytest_add_cli_args_test_selection", [*MUTATION_MODULES[module], "-m", "not slow"]),
        ):
            config, count = re.subn(rf"^{key} = .*$", f"{key} = {json.dumps(value)}", config, flags=re.MULTILINE)
            assert count == 1, f"pyproject.toml: one line `{key} = [...]` expected in [tool.mutmut]"
        (work / "pyproject.toml").write_text(config, encoding="utf-8")
        session.chdir(work)
        started = time.monotonic()
        session.run(
            "mutmut", "run", "--max-children", str(os.cpu_count() or 2), env={"SECUREHOST_MUTATION": "1"}, silent=True
        )
        elapsed = time.monotonic() - started
        meta = json.loads((work / "mutants" / f"{_mutation_source(module)}.meta").read_text(encoding="utf-8"))
        codes = meta["exit_code_by_key"]
        killed = sum(code in MUTANT_KILLED for code in codes.values())
        survivors = sorted(name for name, code in codes.items() if code not in MUTANT_KILLED)
        score = 100 * killed / max(len(codes), 1)
        lines.append(f"{module}: {killed}/{len(codes)} = {score:.1f}%  ({elapsed:.0f} s; `mutmut show NAME` in {work})")
        lines.extend(f"    survived: {name}" for name in survivors)
        session.chdir(ROOT)
    session.log("mutation scores:\n" + "\n".join(lines))

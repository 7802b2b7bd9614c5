"""Mutation score of one core module, measured with mutmut (>= 3).

    python tools/mutation.py MODULE [--jobs N] [--workdir DIR] [--tests-at REV] [--resume]
                                    [--only GLOB | --sample N [--seed S] | --names FILE]
    python tools/mutation.py --list

(after ``pip install -e '.[mutation]'``)

MODULE is a key of ``MODULES`` below. The script copies the working tree (tracked and untracked,
not ignored files) to ``DIR/MODULE`` (default ``.mutation/`` in the repository, so that the
authors' results in ``../shared/paper3/Results`` are found from there as from the checkout), adds
the module's files (``only_mutate``) and its test files (``pytest_add_cli_args_test_selection``)
to the copy's ``[tool.mutmut]`` table of pyproject.toml, and runs ``mutmut run`` there under
``nice``. mutmut first runs the selected tests once, recording which tests reach which function,
and then runs each mutant against those tests only.

It prints the score killed / (killed + survived), where "survived" counts the mutants no test
detected (mutants no test reaches included) less those listed as equivalent in
``tools/equivalent_mutants.txt`` (one mutant name, then ``#`` and the one-line argument why no
test can tell it from the original), which are listed separately. Timeouts count as killed.
The property tests run with hypothesis's "mutation" profile (fewer examples, no shrinking), so the
score is a lower bound of what the full suite catches.
``--only`` restricts the run to the mutants whose names match (e.g. "measure.runner.x_residual_rows*").
``--names FILE`` runs only the mutants named in FILE (one a line: the survivors of an earlier run,
after new tests). ``--sample N`` runs a uniform random sample of N of the module's mutants (``--seed``,
default 0) where the whole module does not fit in the time, and prints the score with its Wilson 95%
interval: the estimate of the score the whole module would get.
A run that is stopped can be resumed by running the same command with ``--resume``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import libcst as cst
from statsmodels.stats.proportion import proportion_confint

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tools" / "equivalent_mutants.txt"

# module key -> (files to mutate, as mutmut globs; test files that exercise them)
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "adapters": (["measure/adapters/*"], ["tests/test_conformance.py", "tests/test_registry.py"]),
    "probe": (
        ["measure/probe.py"],
        [
            "tests/test_conformance.py",
            "tests/test_measure.py",
            "tests/test_fused_attention.py",
            "tests/test_properties_measure.py",
        ],
    ),
    "runner": (
        ["measure/runner.py"],
        ["tests/test_measure.py", "tests/test_store.py", "tests/test_properties_measure.py"],
    ),
    "weights": (
        ["measure/weights.py"],
        ["tests/test_measure.py", "tests/test_weights.py", "tests/test_properties_measure.py"],
    ),
    "conventions": (["contract/conventions.py"], ["tests/test_conventions.py", "tests/test_properties_conventions.py"]),
    "stats": (
        ["analysis/stats/*"],
        [
            "tests/test_stats_basic.py",
            "tests/test_stats_models.py",
            "tests/test_stats_resampling.py",
            "tests/test_stats_statcheck.py",
            "tests/test_properties_stats.py",
            "tests/test_stats_classification.py",
            "tests/test_stats_mixed.py",
            "tests/test_stats_bootstrap.py",
            "tests/test_stats_correlation.py",
            "tests/test_stats_permutation.py",
            "tests/test_stats_location.py",
            "tests/test_stats_robustness.py",
            "tests/test_stats_common.py",
        ],
    ),
    "statcheck": (
        ["analysis/stats/statcheck.py"],
        [
            "tests/test_stats_statcheck.py",
            "tests/test_stats_basic.py",
            "tests/test_properties_stats.py",
            "tests/test_verdicts.py",
        ],
    ),
    # the verdict logic of the analysis: run.py's statcheck comparison and Holm adjustment, and decide()
    "verdicts": (
        ["analysis/run.py", "analysis/stats/_common.py"],
        [
            "tests/test_verdicts.py",
            "tests/test_analysis.py",
            "tests/test_stats_statcheck.py",
            "tests/test_stats_basic.py",
            "tests/test_stats_resampling.py",
            "tests/test_properties_stats.py",
            "tests/test_stats_common.py",
        ],
    ),
}

# mutmut leaves decorated functions alone; these decorators only open a context, so the scratch copy
# opens it with a `with` statement instead and the function's body is mutated like any other
CONTEXT_DECORATORS = ("torch.inference_mode", "torch.no_grad")

KILLED = {"killed", "timeout", "caught by type check"}
UNDETECTED = {"survived", "no tests"}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


class _ContextDecoratorsToWith(cst.CSTTransformer):
    """``@torch.inference_mode()`` over a function -> ``with torch.inference_mode():`` around its body."""

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        contexts = [
            d
            for d in updated.decorators
            if isinstance(d.decorator, cst.Call)
            and cst.Module([]).code_for_node(d.decorator.func) in CONTEXT_DECORATORS
        ]
        if not contexts:
            return updated
        statements = list(updated.body.body)
        docstring = statements[:1] if statements and _is_docstring(statements[0]) else []
        block = cst.With(
            items=[cst.WithItem(d.decorator) for d in contexts],
            body=cst.IndentedBlock(body=statements[len(docstring) :]),
        )
        return updated.with_changes(
            decorators=[d for d in updated.decorators if d not in contexts],
            body=updated.body.with_changes(body=[*docstring, block]),
        )


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, cst.SimpleString)
    )


def unwrap_context_decorators(path: Path) -> None:
    """Rewrite ``path`` in place with its context-manager decorators turned into ``with`` blocks."""
    tree = cst.parse_module(path.read_text(encoding="utf-8"))
    path.write_text(tree.visit(_ContextDecoratorsToWith()).code, encoding="utf-8")


def prepare(module: str, scratch: Path, tests_at: str | None = None) -> None:
    """Copy the working tree to ``scratch`` and point its mutmut configuration at ``module``; with
    ``tests_at`` (a git revision), take tests/ from that revision (a score before new tests)."""
    globs, tests = MODULES[module]
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for pattern in globs:
        for path in scratch.glob(pattern.rstrip("*") + "**/*.py" if pattern.endswith("*") else pattern):
            unwrap_context_decorators(path)
    if tests_at:  # the set-up (tests/conftest.py: environment, hypothesis profiles) stays the working tree's
        conftest = (scratch / "tests" / "conftest.py").read_bytes()
        shutil.rmtree(scratch / "tests")
        archive = subprocess.run(["git", "archive", tests_at, "tests"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive.stdout, check=True)
        (scratch / "tests" / "conftest.py").write_bytes(conftest)
    pyproject = scratch / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if "\n[tool.mutmut]\n" not in text:
        sys.exit("pyproject.toml has no [tool.mutmut] table")
    present = [t for t in tests if (scratch / t).is_file()]
    settings = f"only_mutate = {_toml_list(globs)}\npytest_add_cli_args_test_selection = {_toml_list(present)}\n"
    pyproject.write_text(text.replace("\n[tool.mutmut]\n", "\n[tool.mutmut]\n" + settings, 1), encoding="utf-8")


def mutant_names(module: str, scratch: Path) -> list[str]:
    """Every mutant name mutmut generates for ``module``'s files in ``scratch`` (mutmut's own generator)."""
    from mutmut.mutation.file_mutation import mutate_file_contents  # mutmut >= 3.8

    names = []
    for pattern in MODULES[module][0]:
        for path in sorted(scratch.glob(pattern.rstrip("*") + "**/*.py" if pattern.endswith("*") else pattern)):
            dotted = ".".join(path.relative_to(scratch).with_suffix("").parts).replace(".__init__", "")
            mutated = mutate_file_contents(str(path), path.read_text(encoding="utf-8"))
            names += [f"{dotted}.{name}" for name in mutated.mutant_names]
    return names


def equivalent_mutants() -> dict[str, str]:
    """Mutant name -> the argument that it is equivalent, from tools/equivalent_mutants.txt."""
    if not EQUIVALENT_FILE.is_file():
        return {}
    out = {}
    for line in EQUIVALENT_FILE.read_text(encoding="utf-8").splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            out[name.strip()] = why.strip()
    return out


def statuses(scratch: Path) -> dict[str, str]:
    """Mutant name -> mutmut status, read with ``mutmut results --all true``."""
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(re.findall(r"^\s+(\S+): (.+)$", listing, flags=re.MULTILINE))


def report(module: str, found: dict[str, str], sampled: bool = False) -> float:
    """Print the counts, the score and the undetected mutants; return the score."""
    equivalent = equivalent_mutants()
    counts = Counter(found.values())
    killed = sum(counts[s] for s in KILLED)
    undetected = sorted(m for m, s in found.items() if s in UNDETECTED)
    survivors = [m for m in undetected if m not in equivalent]
    listed = [m for m in undetected if m in equivalent]
    tested = killed + len(survivors)
    score = killed / tested if tested else float("nan")
    print(f"\n{module}: {len(found)} mutants; " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(
        f"score = killed / (killed + survived) = {killed} / {tested} = {score:.1%} "
        f"({len(listed)} equivalent mutants left out)"
    )
    if sampled and tested:
        low, high = proportion_confint(killed, tested, alpha=0.05, method="wilson")
        print(f"a random sample of {len(found)} mutants: the module's score is in [{low:.1%}, {high:.1%}] (Wilson 95%)")
    for name in survivors:
        print(f"  survived: {name} ({found[name]})")
    for name in listed:
        print(f"  equivalent: {name}: {equivalent[name]}")
    for name, status in sorted(found.items()):
        if status not in {"killed", "caught by type check"} | UNDETECTED:
            print(f"  {status}: {name}")
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", nargs="?", choices=sorted(MODULES))
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (default 2)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".mutation", help="where the scratch copies go")
    parser.add_argument("--tests-at", metavar="REV", help="run the tests of git revision REV (e.g. main)")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--only", metavar="GLOB", help="only the mutants whose names match GLOB")
    chosen.add_argument("--sample", metavar="N", type=int, help="a random sample of N mutants of the module")
    chosen.add_argument(
        "--names", metavar="FILE", type=Path, help="only the mutants named in FILE, one a line (e.g. earlier survivors)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue the module's previous run")
    args = parser.parse_args(argv)
    if args.list or args.module is None:
        for name, (globs, tests) in MODULES.items():
            print(f"{name:<12} {' '.join(globs)}\n{'':<12} tests: {' '.join(tests)}")
        return 0
    scratch = args.workdir.resolve() / args.module
    if not args.resume:
        shutil.rmtree(scratch, ignore_errors=True)
        prepare(args.module, scratch, args.tests_at)
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs)]
    selected = None
    if args.names:
        lines = args.names.read_text(encoding="utf-8").splitlines()
        selected = sorted({line.split()[0] for line in lines if line.strip()})
    elif args.sample:
        everything = mutant_names(args.module, scratch)
        selected = sorted(random.Random(args.seed).sample(everything, min(args.sample, len(everything))))
        print(f"{len(selected)} of {len(everything)} mutants sampled (seed {args.seed})")
    command += [args.only] if args.only else selected or []
    log = scratch / "mutmut-run.log"
    shown = command[: len(command) - len(selected)] + [f"<{len(selected)} names>"] if selected else command
    print(f"$ cd {scratch} && {' '.join(shown)} > {log}", flush=True)
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        # one thread per mutant: --jobs mutants share the cores, and no thread pool crosses a fork
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        subprocess.run(command, cwd=scratch, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    print(f"mutmut ran {time.perf_counter() - started:.0f} s")
    found = statuses(scratch)
    if args.only:
        found = {name: status for name, status in found.items() if fnmatch.fnmatch(name, args.only)}
    if selected:
        found = {name: status for name, status in found.items() if name in set(selected)}
    report(args.module, found, sampled=bool(args.sample))
    return 0


if __name__ == "__main__":
    sys.exit(main())

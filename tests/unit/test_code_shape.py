"""The shape of the code (#13, item 6): modules under about 400 lines, functions under about 60,
ruff's McCabe complexity at most 12, `__all__` and `py.typed` on every package, and one meaning
per word in module names.

What was over a limit when the limits came in is listed below with its size then. A listed
function or module may shrink but never grow, and once it is within the limit it must leave
the list: the list only gets shorter, and anything new over a limit fails at once."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "topics", "projections", "services", "schemas")
MODULE_LINES = 400
FUNCTION_LINES = 60
COMPLEXITY = 12

# Debt when the limits came in, paid off since (1 Dec 2026): a module, a function or a
# complexity over its limit may be listed here only while it is being paid off.
# (module) -> lines.
LONG_MODULES: dict[str, int] = {}
# (module, function) -> lines.
LONG_FUNCTIONS: dict[tuple[str, str], int] = {}
# (module, function) -> McCabe complexity.
COMPLEX_FUNCTIONS: dict[tuple[str, str], int] = {}
# One meaning per word in module names: a module whose name holds the word is one of these.
WORDS = {
    # seal: encrypt a tier of an event under a data key
    "seal": {"ledger/sealed_store.py", "topics/sealed_schemas.py", "projections/sealed_rows.py"},
    # audit: the record of who read what (the `audit verify` of the log is topics/log_verifier.py)
    "audit": {"ledger/audit.py"},
    # keystore / key_store: where data keys are kept (the contract, then the adapters)
    "keystore": {"ledger/keystore.py"},
    "key_store": {"topics/key_stores.py", "ledger/memory_key_store.py"},
}


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def over(measured: dict[object, int], debt: dict[object, int], limit: int) -> list[str]:
    """What breaks the ratchet: new over the limit, listed and grown, listed and now within."""
    problems = [f"{k}: {v} (limit {limit})" for k, v in measured.items() if v > limit and k not in debt]
    problems += [f"{k}: grew from {debt[k]} to {v}" for k, v in measured.items() if k in debt and v > debt[k]]
    problems += [
        f"{k}: now {measured.get(k, 0)}, within {limit}: take it off the list"
        for k in debt
        if measured.get(k, 0) <= limit
    ]
    return problems


def module_lines() -> dict[object, int]:
    return {name(p): len(p.read_text().splitlines()) for p in modules()}


def function_lines() -> dict[object, int]:
    found: dict[object, int] = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                key = (name(path), node.name)
                found[key] = max(found.get(key, 0), (node.end_lineno or node.lineno) - node.lineno + 1)
    return found


def complexity() -> dict[object, int]:
    checked = subprocess.run(
        [
            *(sys.executable, "-m", "ruff", "check", "--select", "C901", "--output-format", "json"),
            *("--config", f"lint.mccabe.max-complexity={COMPLEXITY}", *PACKAGES),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found: dict[object, int] = {}
    for v in json.loads(checked.stdout):
        match = re.match(r"`(\w+)` is too complex \((\d+) >", v["message"])
        assert match, v["message"]
        key = (Path(v["filename"]).relative_to(ROOT).as_posix(), match[1])
        found[key] = max(found.get(key, 0), int(match[2]))
    return found


def test_no_module_grows_past_400_lines() -> None:
    assert over(module_lines(), LONG_MODULES, MODULE_LINES) == []  # type: ignore[arg-type]


def test_no_function_grows_past_60_lines() -> None:
    assert over(function_lines(), LONG_FUNCTIONS, FUNCTION_LINES) == []  # type: ignore[arg-type]


def test_no_function_grows_past_complexity_12() -> None:
    assert over(complexity(), COMPLEX_FUNCTIONS, COMPLEXITY) == []  # type: ignore[arg-type]


def test_the_ratchet_catches_growth_novelty_and_paid_debt() -> None:
    """Control: each of the three ways to break the rule is reported."""
    debt = {"a.py": 450, "b.py": 420}
    assert over({"a.py": 451, "b.py": 390, "c.py": 401, "d.py": 10}, debt, 400) == [  # type: ignore[arg-type]
        "c.py: 401 (limit 400)",
        "a.py: grew from 450 to 451",
        "b.py: now 390, within 400: take it off the list",
    ]
    assert over({"a.py": 450, "b.py": 420}, debt, 400) == []  # type: ignore[arg-type]


def test_every_module_says_what_it_exports() -> None:
    missing, unknown = [], []
    for path in modules():
        module = importlib.import_module(name(path)[:-3].replace("/", "."))
        exported = getattr(module, "__all__", None)
        if exported is None:
            missing.append(name(path))
            continue
        unknown += [f"{name(path)}: {n}" for n in exported if not hasattr(module, n)]
    assert (missing, unknown) == ([], [])


def test_every_package_is_typed_and_ships_its_marker() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package
        assert re.search(rf'^{package} = \[.*"py\.typed"', pyproject, re.MULTILINE), package


def test_one_meaning_per_word_in_module_names() -> None:
    for word, allowed in WORDS.items():
        holding = {name(p) for p in modules() if word in p.stem}
        assert holding == allowed, (word, holding)

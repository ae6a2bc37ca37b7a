"""The pages a user reads are checked against the code: every command they show parses, every
project path, module and name they cite exists, every Python snippet's project imports resolve.

Commands are parsed the way the programs parse them (a sweep's command line through its plan,
as `--dry-run` does first), so a renamed flag, family, activation or file breaks this test.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import REPO_ROOT

GENERATED = {"report.md", "search_report.md"}  # reports written by the examples, not prose
PAGES = sorted([REPO_ROOT / "README.md", REPO_ROOT / "BENCHMARKS.md",
                *(page for page in (REPO_ROOT / "docs").rglob("*.md") if page.name not in GENERATED)])
PROJECT_DIRS = ("sweeps/", "trainables/", "analysis/", "docs/", "tests/", "benchmarks/", "deploy/", ".ci/")
PROJECT_PACKAGES = ("sweeps", "trainables", "analysis")
EXTERNAL_PROGRAMS = {"jupyter", "tensorboard", "mlflow", "ray", "ssh", "aim", "bash", "cd", "export", "kubectl",
                     "sbatch", "srun", "duckdb", "wandb", "taskset", "nice"}


def _page_id(page: Path) -> str:
    return str(page.relative_to(REPO_ROOT))


def code_blocks(text: str) -> Iterator[tuple[str, str]]:
    """(language, code) of fenced blocks and of indented blocks (language '')."""
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        yield match[1], match[2]
    unfenced = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    for match in re.finditer(r"(?:^\n)((?:^(?: {4}|\t).*\n)+)", unfenced, flags=re.MULTILINE):
        lines = match[1].splitlines()
        if not lines[0].lstrip().startswith(("|", "-", "*")):  # not a nested list or table
            yield "", "\n".join(line[4:] for line in lines)


def shell_commands(code: str) -> Iterator[list[str]]:
    """Each command of a shell block: continuations joined, comments dropped, split on && and ;."""
    joined = re.sub(r"\\\n\s*", " ", code)
    for line in joined.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        command: list[str] = []
        target_follows = False
        for word in [*words, "&&"]:
            if target_follows:  # the file of a redirection
                target_follows = False
            elif word in ("&&", ";", "||", "|"):
                if command:
                    yield command
                command = []
            elif re.fullmatch(r"\d?(>>|>|<)", word):
                target_follows = True
            elif not re.fullmatch(r"\d?(>>|>|<)&?\S+", word):  # `2>&1`, `>file`
                command.append(word)


def _without_environment(command: list[str]) -> list[str]:
    while command and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command[0]):
        command = command[1:]
    return command


def _check_sweep_command(script: str, arguments: list[str]) -> None:
    from sweeps import families
    from sweeps.engine.plan import plan_for

    family = Path(script).stem
    assert family in families(), f"{script}: no such experiment family"
    plan_for(families()[family], [*arguments, "--dry-run"])  # raises UsageError on a bad flag or value


def _parse_with(parser, arguments: list[str]) -> None:
    try:
        parser.parse_args(arguments)
    except SystemExit as exit_:
        raise AssertionError(f"{arguments} does not parse (exit {exit_.code})") from None


def check_command(command: list[str]) -> bool:
    """Check one shown command; False when it is not one of the project's."""
    command = _without_environment(command)
    if not command or command[0] in EXTERNAL_PROGRAMS:
        return False
    if command[0] == "pip":
        extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        for word in command:
            if match := re.fullmatch(r"\.\[([\w,]+)\]", word):
                assert set(match[1].split(",")) <= set(extras), f"unknown extra in {word}"
        return True
    if command[0] == "actsweep":
        from sweeps.engine.listing import parser

        _parse_with(parser(), command[1:])
        return True
    if command[0] not in ("python", "python3"):
        return False
    if command[1:3] == ["-m", "pytest"]:
        return True
    if command[1] == "-c":  # inline Python (e.g. making a token), not one of the project's commands
        return False
    if command[1] == "-m":
        module, arguments = command[2], command[3:]
        if module == "sweeps":
            from sweeps.engine.listing import parser
        else:
            parser = importlib.import_module(module)._parser
        _parse_with(parser(), arguments)
        return True
    script, arguments = command[1], command[2:]
    assert (REPO_ROOT / script).is_file(), f"{script} does not exist"
    if script.startswith("sweeps/"):
        _check_sweep_command(script, arguments)
    return True


def check_python(code: str) -> None:
    """The snippet compiles (a dict entry counts, as in "one entry in ACTIVATIONS") and its
    imports of project modules resolve."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        tree = ast.parse("{\n" + code + "\n}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT_PACKAGES:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), \
                    f"from {node.module} import {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT_PACKAGES:
                    importlib.import_module(alias.name)


def check_reference(text: str, page: Path) -> None:
    """An inline `code` span that names a project path or a dotted project name: it exists."""
    text = text.strip()
    if any(mark in text for mark in "<>*{}$ ") or text.endswith("/..."):
        return
    if text.startswith(PROJECT_DIRS):
        path = text.split("::")[0].split(":")[0].rstrip(",.")
        assert (REPO_ROOT / path).exists(), f"{_page_id(page)} cites {path}, which does not exist"
    elif re.fullmatch(r"(sweeps|trainables|analysis)(\.\w+)+(\(.*\))?", text):
        dotted = text.split("(")[0]
        parts = dotted.split(".")
        for split in range(len(parts), 0, -1):
            try:
                target = importlib.import_module(".".join(parts[:split]))
            except ModuleNotFoundError:
                continue
            for attribute in parts[split:]:
                assert hasattr(target, attribute), f"{_page_id(page)} cites {dotted}: no {attribute}"
                target = getattr(target, attribute)
            return
        raise AssertionError(f"{_page_id(page)} cites {dotted}, which does not import")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_command_a_page_shows_parses(page):
    checked = 0
    for language, code in code_blocks(page.read_text()):
        if language == "python":
            check_python(code)
        elif language in ("", "bash", "sh", "shell", "console"):
            for command in shell_commands(code):
                checked += check_command(command)
    if page.name == "README.md" and page.parent == REPO_ROOT:
        assert checked >= 5, "the README's commands are found and checked"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_path_and_name_a_page_cites_exists(page):
    text = page.read_text()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    for span in re.findall(r"`([^`\n]+)`", prose):
        check_reference(span, page)
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{_page_id(page)} links to {target}, which does not exist"


def test_the_checks_catch_what_they_are_for():
    """A renamed flag, an unknown family or activation, a missing file: each is caught."""
    from sweeps.engine.errors import UsageError

    with pytest.raises(UsageError):
        check_command(["python", "sweeps/selu_mnist.py", "--max-epoch", "3"])
    with pytest.raises(UsageError):
        check_command(["python", "sweeps/selu_mnist.py", "--set", "activation=reluu"])
    with pytest.raises(AssertionError):
        check_command(["python", "sweeps/no_such_family.py"])
    with pytest.raises(AssertionError):
        check_command(["python", "-m", "analysis.report", "dir", "--no-such-flag"])
    with pytest.raises(AssertionError):
        check_reference("trainables/no_such_module.py", REPO_ROOT / "README.md")
    with pytest.raises(AssertionError):
        check_reference("analysis.store.export.no_such_function", REPO_ROOT / "README.md")
    assert list(shell_commands("KERAS_BACKEND=jax python sweeps/a.py \\\n  --smoke  # comment\n")) == [
        ["KERAS_BACKEND=jax", "python", "sweeps/a.py", "--smoke"]]
    assert list(shell_commands("python -m analysis.report d --json > out.json 2>&1 && ls")) == [
        ["python", "-m", "analysis.report", "d", "--json"], ["ls"]]

"""Prompt templates, one plain-text file per role, filled with `$name` fields.

`$` fields (string.Template) leave LaTeX braces in a template alone. A template is named by its
file stem here (e.g. `student_answer`) or given as a path to a researcher's own file.
"""
from functools import lru_cache
from pathlib import Path
from string import Template

from reasoning.errors import ReasoningError

HERE = Path(__file__).parent


@lru_cache(maxsize=None)
def load_template(name_or_path: str) -> Template:
    path = Path(name_or_path)
    if not path.suffix:
        path = HERE / f"{name_or_path}.txt"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in HERE.glob("*.txt")))
        raise ReasoningError(f"prompt template {name_or_path} not found; use one of {known} or a .txt path")
    template = Template(path.read_text().rstrip("\n"))
    _check_dollars(template, path)
    return template


def _check_dollars(template: Template, path: Path) -> None:
    """A `$` that starts no field ("5$ per item") would fail at the first problem: refuse it at once."""
    for match in template.pattern.finditer(template.template):
        if match.group("invalid") is not None:
            line = template.template.count("\n", 0, match.start()) + 1
            text = template.template.splitlines()[line - 1].strip()
            raise ReasoningError(f"prompt template {path} line {line} has a bare $ ({text!r}); "
                                 "write $$ for a dollar sign, $name or ${name} for a field")


def template_fields(template: Template) -> set[str]:
    """The `$name` / `${name}` fields a template fills."""
    return {m.group("named") or m.group("braced") for m in template.pattern.finditer(template.template)
            if m.group("named") or m.group("braced")}


def render(name_or_path: str, **fields: str) -> str:
    try:
        return load_template(name_or_path).substitute(**fields)
    except KeyError as missing:
        raise ReasoningError(f"prompt template {name_or_path} uses ${missing.args[0]}, which this setting "
                             f"does not fill; it fills {', '.join(sorted(fields))}") from None

"""Raw rows from a local file (.jsonl, .json, .parquet) or the Hugging Face hub, each with its place.

Loaders turn rows into Problems; this module only reads, so a bad row is reported, not fixed.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from reasoning.errors import ReasoningError

SUFFIXES = (".jsonl", ".json", ".parquet")
# Local copies of a hub split whose problems keep that split's ids (`gsm8k-test-N`), so the runs made
# from them (results/runs/gsm8k: ../shared/data/gsm8k_test_public.jsonl) resume; stem -> split.
SPLIT_COPIES = {"gsm8k_test_public": "test", "math500_public": "test"}


def id_prefix(dataset: str, path: str | None, split: str) -> str:
    """Ids name where problems come from: the hub split (`gsm8k-test`), else the file (`my_set` for my_set.jsonl)."""
    if path is None:
        return f"{dataset}-{split}"
    stem = Path(path).stem
    return f"{dataset}-{SPLIT_COPIES[stem]}" if stem in SPLIT_COPIES else stem


def _text(file: Path) -> str:
    return file.read_text(encoding="utf-8-sig")  # a UTF-8 BOM (Windows editors, Excel) is not part of row 1


@dataclass(frozen=True)
class Row:
    """One record of a source split."""

    index: int  # 0-based position in the source split: ids are built from it, so they stay stable
    where: str  # where a person finds it, for messages: "data/x.jsonl line 7"
    fields: dict  # the record; empty when it could not be parsed
    error: str = ""  # why it could not be parsed; empty when it was


def read_rows(path: str) -> list[Row]:
    """Every record of a local file, in file order."""
    file = Path(path)
    if not file.is_file():
        raise ReasoningError(
            f"dataset file {path} does not exist; set dataset.path to a .jsonl, .json or .parquet file "
            "(or null to load from the hub)"
        )
    if file.suffix == ".parquet":
        return _parquet_rows(file, path)
    if file.suffix == ".json" and not _text(file).lstrip().startswith("["):
        return _jsonl_rows(file, path)  # `datasets.Dataset.to_json` writes JSON lines into .json files
    if file.suffix == ".json":
        return _json_array_rows(file, path)
    if file.suffix == ".jsonl":
        return _jsonl_rows(file, path)
    raise ReasoningError(f"dataset file {path} has suffix {file.suffix!r}; use one of {', '.join(SUFFIXES)}")


def hub_rows(hub_id: str, subset: str | None, split: str) -> list[Row]:
    """Every record of a hub split; `datasets` is imported here because it is slow to import."""
    import datasets

    try:
        table = datasets.load_dataset(hub_id, subset, split=split)
    except Exception as err:  # offline, unknown id, no such split: all mean "give a local file"
        raise ReasoningError(
            f"could not load {hub_id} (subset {subset}, split {split}) from the hub: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}; "
            "check the id and split or set dataset.path to a local copy"
        ) from err
    return [Row(i, f"{hub_id} {split} row {i}", dict(record)) for i, record in enumerate(table)]


def _jsonl_rows(file: Path, path: str) -> list[Row]:
    # Line numbers are 1-based, as editors show them; blank lines are not records.
    rows = []
    for line_no, line in enumerate(_text(file).splitlines(), start=1):
        if line.strip():
            rows.append(_parsed(len(rows), f"{path} line {line_no}", line))
    return rows


def _parsed(index: int, where: str, text: str) -> Row:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        return Row(index, where, {}, f"invalid JSON ({err.msg} at column {err.colno})")
    return _checked(index, where, record)


def _json_array_rows(file: Path, path: str) -> list[Row]:
    # Row numbers are 0-based, as pandas and `datasets` index them.
    try:
        records = json.loads(_text(file))
    except json.JSONDecodeError as err:
        raise ReasoningError(
            f"{path} line {err.lineno}: invalid JSON ({err.msg}); fix the file or convert it to .jsonl"
        ) from None
    return [_checked(i, f"{path} row {i}", record) for i, record in enumerate(records)]


def _parquet_rows(file: Path, path: str) -> list[Row]:
    import pyarrow.parquet  # to_pylist gives plain Python values (None, not NaN, for missing ones)

    records = pyarrow.parquet.read_table(file).to_pylist()
    return [Row(i, f"{path} row {i}", record) for i, record in enumerate(records)]


def _checked(index: int, where: str, record) -> Row:
    if isinstance(record, dict):
        return Row(index, where, record)
    return Row(index, where, {}, f"not a JSON object but {type(record).__name__}")

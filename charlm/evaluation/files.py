"""Reading evaluation inputs safely: pasted text, line files, JSONL/CSV tables, size caps and reports.

Every check here exists because sacrebleu and rouge-score accept bad input silently: they truncate to the
shorter of hypotheses and references, score a BOM as part of the first word and take quadratic time on long
lines (ROUGE-L). So this module turns each such case into a ``DataError`` that names the file or the counts.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from charlm.errors import DataError
from charlm.safejson import loads as bounded_json
from charlm.text import read_text, split_lines

#: Most segments accepted in one evaluation.
MAX_SEGMENTS = 10_000
#: Longest segment in characters; ROUGE-L builds an n x m table, so 2,000 CJK characters already take ~1.6 s.
MAX_SEGMENT_CHARS = 2_000
#: Most characters over all hypotheses or over all references of one set.
MAX_TOTAL_CHARS = 1_000_000
#: Line that separates reference sets in pasted text.
REF_SET_SEPARATOR = "---"

HYP_COLUMNS = ("hypothesis", "hyp", "prediction", "pred", "output", "generated")
REF_COLUMNS = ("reference", "ref", "references", "refs", "target", "answer", "gold")


def read_text_file(path: str | Path) -> str:
    """Read a whole evaluation file (UTF-8, or UTF-16 with a BOM), with errors that name the file."""
    return read_text(path, max_bytes=4 * MAX_TOTAL_CHARS, allow_empty=True)


def read_lines_file(path: str | Path) -> list[str]:
    """Read a one-segment-per-line file."""
    return split_lines(read_text_file(path))


def split_reference_sets(text: str) -> list[list[str]]:
    """Split pasted references into sets separated by a line that is exactly ``---``."""
    sets: list[list[str]] = [[]]
    for line in split_lines(text):
        if line.strip() == REF_SET_SEPARATOR:
            sets.append([])
        else:
            sets[-1].append(line)
    return [s for s in sets if s]


def _pick_column(columns: Sequence[str], wanted: str | None, defaults: Sequence[str], what: str, name: str):
    if wanted:
        if wanted not in columns:
            raise DataError(f"{name}: no column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    for c in defaults:
        if c in columns:
            return c
    raise DataError(f"{name}: no {what} column; name one of {', '.join(defaults)} (columns: {', '.join(columns)})")


def _cell_refs(value: object, row: int, name: str) -> list[str]:
    if value is None:
        return [""]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value) or [""]
    raise DataError(f"{name}: row {row}: references must be a string or a list of strings")


def read_table(
    path: str | Path, hyp_col: str | None = None, ref_cols: Sequence[str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Read hypotheses and per-hypothesis references from a JSONL or CSV file with named columns.

    Returns ``(hyps, refs)`` where ``refs[i]`` lists the references of ``hyps[i]``. A JSONL reference cell may
    be a list (several references); several ``ref_cols`` give several references too.
    """
    p = Path(path)
    text = read_text_file(p)
    records: list[dict] = []
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for i, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = bounded_json(line, f"{p.name}: line {i}", len(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{p.name}: line {i} is not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{p.name}: line {i} is not a JSON object")
            records.append(obj)
    else:
        try:
            records = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:
            raise DataError(f"{p.name}: not a readable CSV file ({exc})") from None
    if not records:
        raise DataError(f"{p.name}: no rows")
    columns = list(records[0].keys())
    h = _pick_column(columns, hyp_col, HYP_COLUMNS, "hypothesis", p.name)
    rcols = (
        [_pick_column(columns, c, (), "reference", p.name) for c in ref_cols]
        if ref_cols
        else [_pick_column(columns, None, REF_COLUMNS, "reference", p.name)]
    )
    hyps: list[str] = []
    refs: list[list[str]] = []
    for i, rec in enumerate(records, start=1):
        hyp = rec.get(h)
        if hyp is None:
            hyp = ""
        if not isinstance(hyp, str):
            raise DataError(f"{p.name}: row {i}: hypothesis must be a string")
        hyps.append(hyp)
        refs.append([r for c in rcols for r in _cell_refs(rec.get(c), i, p.name)])
    return hyps, refs


def streams_to_refs(
    hyps: Sequence[str], streams: Sequence[Sequence[str]], names: Sequence[str] | None = None
) -> list[list[str]]:
    """Turn reference *sets* (one list per file, parallel to ``hyps``) into per-hypothesis lists.

    This is where count mismatches become errors: sacrebleu would silently drop the extra lines.
    """
    if not streams:
        raise DataError("no references given")
    for k, stream in enumerate(streams):
        if len(stream) != len(hyps):
            what = names[k] if names else f"reference set {k + 1}"
            raise DataError(
                f"{len(hyps)} hypothesis lines but {len(stream)} lines in {what}; "
                "every reference set needs one line per hypothesis"
            )
    return [[s[i] for s in streams] for i in range(len(hyps))]


def check_caps(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> None:
    """Refuse inputs whose size would make the page hang (ROUGE-L is quadratic in segment length)."""
    if len(hyps) > MAX_SEGMENTS:
        raise DataError(f"too many segments: {len(hyps):,} (limit {MAX_SEGMENTS:,}); split the file")
    for what, texts in (("hypothesis", hyps), ("reference", [r for rs in refs for r in rs if r])):
        total = 0
        for i, t in enumerate(texts, start=1):
            total += len(t)
            if len(t) > MAX_SEGMENT_CHARS:
                raise DataError(
                    f"{what} segment {i} is {len(t):,} characters long (limit {MAX_SEGMENT_CHARS:,} per "
                    "segment, because ROUGE-L cost grows with the square of the length); split it into lines"
                )
        if total > MAX_TOTAL_CHARS:
            raise DataError(f"{what} text too large: {total:,} characters (limit {MAX_TOTAL_CHARS:,})")


def write_reports(report, folder: str | Path) -> tuple[Path, Path]:
    """Write ``report`` (an ``EvalReport``) as ``eval_report.csv`` (one row per example) and ``.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / "eval_report.csv", folder / "eval_report.json"
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        rows = report.rows
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["line"])
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps(report.to_full_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return csv_path, json_path

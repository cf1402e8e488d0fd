"""Trace files (schema ``metadvfs.trace/2``, ``/1`` still read): write, read + validate, convert to arrays, resample.

Formats, chosen by suffix:

* ``.csv``: the first line is ``# metadvfs-trace {json of TraceMeta}``, then a CSV with a header row holding
  at least :data:`~metadvfs.workload.types.TRACE_COLUMNS`.
* ``.parquet``: a Parquet table with those columns; the TraceMeta JSON is in the schema key-value metadata
  under the key ``metadvfs``.

Every reader validates (:func:`validate_trace`) and raises :class:`~metadvfs.errors.MetaDVFSError` with one
line naming the file, the column or field and, where relevant, the first bad row (0-based data row) and the
allowed range. Writers validate first and write atomically, so nothing is written on error.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metadvfs.errors import MetaDVFSError
from metadvfs.io import first_existing_ancestor, write_with
from metadvfs.workload.types import TRACE_COLUMNS, TRACE_SCHEMA, TRACE_SCHEMAS, TraceMeta

TICK_S_MIN = 0.001
"""Smallest allowed ``tick_s``, s."""

TICK_S_MAX = 1.0
"""Largest allowed ``tick_s``, s."""

TRACE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
"""Accepted trace file suffixes."""

CSV_MAGIC = "# metadvfs-trace "
"""Start of the first line of a CSV trace; the TraceMeta JSON follows it."""

PARQUET_META_KEY = b"metadvfs"
"""Parquet schema metadata key holding the TraceMeta JSON."""

NUMERIC_COLUMNS: tuple[str, ...] = ("t_s", "frames", "ui_mc", "gpu_mc", "worker_mc", "bg_mc")
WORK_COLUMNS: tuple[str, ...] = ("ui_mc", "gpu_mc", "worker_mc", "bg_mc")
ARRAY_KEYS: tuple[str, ...] = (*NUMERIC_COLUMNS, "phase_id", "phase_names")
"""Keys of the array dicts returned by :func:`trace_to_arrays` and ``generate_arrays``."""

TRACE_SOURCES: tuple[str, ...] = ("generated", "recorded")
_META_FIELDS = tuple(f.name for f in dataclasses.fields(TraceMeta))
_META_REQUIRED = ("schema", "app", "tick_s", "target_fps", "source")
_UNIFORM_RTOL = 1e-6
# pandas < 3 parses floats with a fast, not exactly round-tripping parser unless asked; pandas 3 is exact by
# default and deprecates the argument.
_CSV_PRECISION: dict[str, str] = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
_NA_NUMERIC = ["", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL", "None", "<NA>"]


# ------------------------------------------------------------------------------------------------ public


def trace_suffix(path: str | Path) -> str:
    """Return the lower-case trace suffix of ``path`` (``.csv`` or ``.parquet``).

    Raises:
        MetaDVFSError: Any other suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TRACE_SUFFIXES:
        shown = repr(path.suffix) if path.suffix else "none"
        raise MetaDVFSError(f"{path}: unknown trace suffix {shown}; use one of {', '.join(TRACE_SUFFIXES)}")
    return suffix


def phases_extra(names: list[str]) -> str:
    """Encode a phase-name list for ``TraceMeta.extra["phases"]`` (comma-separated)."""
    return ",".join(names)


def meta_to_dict(meta: TraceMeta) -> dict[str, Any]:
    """Return the TraceMeta as a JSON-able dict (field order as in the dataclass)."""
    return dataclasses.asdict(meta)


def meta_from_dict(data: Any, source_name: str) -> TraceMeta:
    """Validate a parsed TraceMeta document and build the record.

    Args:
        data: The parsed JSON.
        source_name: File name for error messages.

    Returns:
        The metadata.

    Raises:
        MetaDVFSError: Wrong schema id, missing or unknown fields, bad types or ranges.
    """
    if not isinstance(data, dict):
        raise MetaDVFSError(f"{source_name}: trace metadata must be a JSON object, got {type(data).__name__}")
    _check_schema(data.get("schema"), source_name)
    unknown = [k for k in data if k not in _META_FIELDS]
    if unknown:
        raise MetaDVFSError(
            f"{source_name}: trace metadata: unknown field {unknown[0]!r}; allowed: {', '.join(_META_FIELDS)}"
        )
    for key in _META_REQUIRED:
        if key not in data:
            raise MetaDVFSError(f"{source_name}: trace metadata: missing field {key!r}")
    meta = TraceMeta(**{k: data[k] for k in _META_FIELDS if k in data})
    _check_meta(meta, source_name)
    return meta


def validate_trace(df: pd.DataFrame, meta: TraceMeta, source_name: str) -> None:
    """Check a trace table and its metadata against schema ``metadvfs.trace/1`` or ``/2``.

    Args:
        df: The table (columns :data:`~metadvfs.workload.types.TRACE_COLUMNS`; extra columns are allowed).
        meta: Its metadata.
        source_name: File name for error messages.

    Raises:
        MetaDVFSError: One line naming ``source_name``, the column or field and the first bad row: missing
            column, non-numeric / NaN / inf / negative value, non-integer ``frames``, ``t_s`` not starting at
            0, not strictly increasing or not uniform at ``meta.tick_s`` (relative tolerance 1e-6), missing
            phase labels, zero rows, or bad metadata.
    """
    _check_meta(meta, source_name)
    if not isinstance(df, pd.DataFrame):
        raise MetaDVFSError(f"{source_name}: trace must be a table, got {type(df).__name__}")
    for col in TRACE_COLUMNS:
        if col not in df.columns:
            raise MetaDVFSError(f"{source_name}: missing column {col!r}; required columns: {', '.join(TRACE_COLUMNS)}")
    if len(df) == 0:
        raise MetaDVFSError(f"{source_name}: trace has zero rows")
    values = {col: _numeric_column(df[col], col, source_name) for col in NUMERIC_COLUMNS}

    frames = values["frames"]
    bad = np.flatnonzero(frames != np.round(frames))
    if bad.size:
        r = int(bad[0])
        raise MetaDVFSError(
            f"{source_name}: column 'frames': non-integer value {frames[r]:g} at row {r}; allowed integers >= 0"
        )
    for col in ("frames", *WORK_COLUMNS):
        bad = np.flatnonzero(values[col] < 0)
        if bad.size:
            r = int(bad[0])
            raise MetaDVFSError(
                f"{source_name}: column {col!r}: negative value {values[col][r]:g} at row {r}; allowed >= 0"
            )

    t = values["t_s"]
    tick = meta.tick_s
    tol = _UNIFORM_RTOL * tick
    if abs(t[0]) > tol:
        raise MetaDVFSError(f"{source_name}: column 't_s': first value {t[0]:g} s at row 0; must start at 0")
    if t.size > 1:
        step = np.diff(t)
        bad = np.flatnonzero(step <= 0)
        if bad.size:
            r = int(bad[0]) + 1
            raise MetaDVFSError(
                f"{source_name}: column 't_s': not strictly increasing at row {r} ({t[r - 1]:g} s then {t[r]:g} s)"
            )
        bad = np.flatnonzero(np.abs(step - tick) > tol)
        if bad.size:
            r = int(bad[0]) + 1
            raise MetaDVFSError(
                f"{source_name}: column 't_s': step {step[r - 1]:.9g} s at row {r} differs from tick_s "
                f"{tick:g} s; rows must be uniform within {_UNIFORM_RTOL:g} relative"
            )

    phase = df["phase"]
    missing = np.flatnonzero(phase.isna().to_numpy())
    if missing.size:
        raise MetaDVFSError(f"{source_name}: column 'phase': missing label at row {int(missing[0])}")
    allowed = _extra_phases(meta)
    if allowed is not None:
        labels = phase.astype(str).to_numpy()
        bad = np.flatnonzero(~np.isin(labels, np.array(allowed, dtype=str)))
        if bad.size:
            r = int(bad[0])
            raise MetaDVFSError(
                f"{source_name}: column 'phase': label {labels[r]!r} at row {r} is not in the trace's phase "
                f"list (extra.phases: {', '.join(allowed)})"
            )


def write_trace(df: pd.DataFrame, meta: TraceMeta, path: str | Path) -> None:
    """Validate and write a trace atomically; the format follows the suffix (``.csv`` or ``.parquet``).

    Args:
        df: Table with :data:`~metadvfs.workload.types.TRACE_COLUMNS` (extra columns are written after them).
        meta: Its metadata (``schema`` ``metadvfs.trace/1`` or ``/2``).
        path: Destination file.

    Raises:
        MetaDVFSError: Unknown suffix, invalid trace, or the destination cannot be written (nothing is
            written in any of these cases).
    """
    dest = Path(path)
    suffix = trace_suffix(dest)
    validate_trace(df, meta, str(dest))
    _check_writable(dest)
    out = _canonical_frame(df)
    meta_json = json.dumps(meta_to_dict(meta), sort_keys=False)

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(CSV_MAGIC + meta_json + "\n")
            csv_frame = out.copy()
            csv_frame["phase"] = csv_frame["phase"].astype(str)
            csv_frame.to_csv(fh, index=False, lineterminator="\n")

    def write_parquet(tmp: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(out, preserve_index=False)
        md = dict(table.schema.metadata or {})
        md[PARQUET_META_KEY] = meta_json.encode("utf-8")
        pq.write_table(table.replace_schema_metadata(md), tmp)

    try:
        write_with(dest, write_csv if suffix == ".csv" else write_parquet)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MetaDVFSError(f"{dest}: cannot write trace: {reason}") from None


def read_trace(path: str | Path) -> tuple[pd.DataFrame, TraceMeta]:
    """Read and validate a trace file.

    Args:
        path: A ``.csv`` or ``.parquet`` trace.

    Returns:
        ``(df, meta)``; ``df`` has ``t_s`` and the work columns as float64, ``frames`` as int64 and ``phase``
        categorical (categories from ``meta.extra["phases"]`` if present, else in order of first appearance).

    Raises:
        MetaDVFSError: Missing/empty/garbage file, wrong schema id, or any :func:`validate_trace` failure.
    """
    src = Path(path)
    suffix = trace_suffix(src)
    name = str(src)
    if not src.exists():
        raise MetaDVFSError(f"{name}: trace file not found")
    if not src.is_file():
        raise MetaDVFSError(f"{name}: not a file")
    if src.stat().st_size == 0:
        raise MetaDVFSError(f"{name}: empty file; expected a {suffix[1:]} trace with schema {TRACE_SCHEMA!r}")
    df, meta = _read_csv(src) if suffix == ".csv" else _read_parquet(src)
    validate_trace(df, meta, name)
    return _normalize(df, meta), meta


def arrays_to_frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """Build a trace table from an array dict (keys as returned by :func:`trace_to_arrays`).

    Args:
        arrays: ``t_s``, ``frames``, ``ui_mc``, ``gpu_mc``, ``worker_mc``, ``bg_mc``, ``phase_id``,
            ``phase_names``.

    Returns:
        A DataFrame with :data:`~metadvfs.workload.types.TRACE_COLUMNS`, ``phase`` categorical.
    """
    data: dict[str, Any] = {col: arrays[col] for col in NUMERIC_COLUMNS}
    data["phase"] = pd.Categorical.from_codes(
        np.asarray(arrays["phase_id"], dtype=np.int64), categories=[str(x) for x in arrays["phase_names"]]
    )
    return pd.DataFrame(data, columns=list(TRACE_COLUMNS))


def trace_to_arrays(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Convert a (validated) trace table to arrays.

    Args:
        df: Table with :data:`~metadvfs.workload.types.TRACE_COLUMNS`.

    Returns:
        ``t_s`` (float64, s), ``frames`` (int64), ``ui_mc`` / ``worker_mc`` / ``bg_mc`` (float64, reference
        Mc), ``gpu_mc`` (float64, reference GPU Mc), ``phase_id`` (int64) and ``phase_names`` (str array; the
        categories if ``phase`` is categorical, else labels in order of first appearance).
    """
    out: dict[str, np.ndarray] = {
        "t_s": df["t_s"].to_numpy(dtype=np.float64, copy=True),
        "frames": np.rint(df["frames"].to_numpy(dtype=np.float64)).astype(np.int64),
    }
    for col in WORK_COLUMNS:
        out[col] = df[col].to_numpy(dtype=np.float64, copy=True)
    phase = df["phase"]
    if isinstance(phase.dtype, pd.CategoricalDtype):
        codes = phase.cat.codes.to_numpy().astype(np.int64)
        names = [str(x) for x in phase.cat.categories]
    else:
        codes_raw, uniques = pd.factorize(phase.astype(str), sort=False)
        codes = np.asarray(codes_raw, dtype=np.int64)
        names = [str(x) for x in uniques]
    out["phase_id"] = codes
    out["phase_names"] = np.array(names, dtype=str)
    return out


def resample_arrays(arrays: dict[str, np.ndarray], from_tick_s: float, to_tick_s: float) -> dict[str, np.ndarray]:
    """Change the tick of an array dict by an integer ratio, preserving total work and frame count.

    Finer (``from_tick_s = r * to_tick_s``): each source tick becomes ``r`` sub-ticks. Its frames are spread
    evenly over the sub-ticks (frame ``j`` of ``n`` goes to sub-tick ``floor(j * r / n)``, so the first frame
    lands in the first sub-tick), ``ui_mc`` and ``gpu_mc`` follow the frames (equal share per frame; spread
    evenly if the tick has work but no frames), ``worker_mc`` and ``bg_mc`` are spread evenly, the phase is
    repeated.

    Coarser (``to_tick_s = q * from_tick_s``): groups of ``q`` ticks are summed; the phase is the first
    tick's. A trailing partial group becomes one last full tick (totals are preserved).

    Args:
        arrays: Array dict as returned by :func:`trace_to_arrays`.
        from_tick_s: Tick of ``arrays``, s.
        to_tick_s: Wanted tick, s.

    Returns:
        A new array dict at ``to_tick_s`` (``t_s`` restarts at 0 with step ``to_tick_s``).

    Raises:
        MetaDVFSError: A tick out of range, or the ratio is not an integer (within 1e-9 relative).
    """
    for label, val in (("from_tick_s", from_tick_s), ("to_tick_s", to_tick_s)):
        if isinstance(val, bool) or not isinstance(val, numbers.Real) or not TICK_S_MIN <= val <= TICK_S_MAX:
            raise MetaDVFSError(f"{label}: {val!r} s is out of range; allowed [{TICK_S_MIN:g}, {TICK_S_MAX:g}] s")
    frames = np.asarray(arrays["frames"], dtype=np.int64)
    n = frames.shape[0]
    phase_id = np.asarray(arrays["phase_id"], dtype=np.int64)
    names = np.asarray(arrays["phase_names"], dtype=str)
    work = {col: np.asarray(arrays[col], dtype=np.float64) for col in WORK_COLUMNS}

    if from_tick_s >= to_tick_s:
        r = _integer_ratio(from_tick_s, to_tick_s)
        m = n * r
        src = np.repeat(np.arange(n), frames)
        first = np.cumsum(frames) - frames
        j = np.arange(src.shape[0]) - first[src]
        sub = src * r + (j * r) // frames[src]
        out: dict[str, np.ndarray] = {"frames": np.bincount(sub, minlength=m).astype(np.int64)}
        no_frames = frames == 0
        safe = np.where(no_frames, 1, frames)
        for col in ("ui_mc", "gpu_mc"):
            per_frame = work[col] / safe
            fine = np.bincount(sub, weights=per_frame[src], minlength=m).astype(np.float64)
            fine += np.repeat(np.where(no_frames, work[col], 0.0) / r, r)
            out[col] = fine
        for col in ("worker_mc", "bg_mc"):
            out[col] = np.repeat(work[col] / r, r)
        out["phase_id"] = np.repeat(phase_id, r)
    else:
        q = _integer_ratio(to_tick_s, from_tick_s)
        m = -(-n // q)
        pad = m * q - n

        def group_sum(x: np.ndarray) -> np.ndarray:
            return np.concatenate([x, np.zeros(pad, dtype=x.dtype)]).reshape(m, q).sum(axis=1)

        out = {"frames": group_sum(frames).astype(np.int64)}
        for col in WORK_COLUMNS:
            out[col] = group_sum(work[col]).astype(np.float64)
        out["phase_id"] = phase_id[::q].copy()
        m = out["frames"].shape[0]
    result = {"t_s": np.arange(m, dtype=np.float64) * float(to_tick_s)}
    result.update({k: out[k] for k in ("frames", *WORK_COLUMNS, "phase_id")})
    result["phase_names"] = names.copy()
    return {k: result[k] for k in ARRAY_KEYS}


def trace_summary(arrays: dict[str, np.ndarray], tick_s: float) -> dict[str, Any]:
    """Summarise an array dict.

    Args:
        arrays: Array dict (see :func:`trace_to_arrays`).
        tick_s: Its tick, s.

    Returns:
        ``rows``, ``duration_s`` (s), ``tick_s`` (s), ``mean_fps`` (frames requested per second),
        ``ui_mc_per_s`` / ``worker_mc_per_s`` / ``bg_mc_per_s`` / ``cpu_mc_per_s`` (reference Mc/s; cpu is
        their sum), ``gpu_mc_per_s`` (reference GPU Mc/s) and ``phase_share`` (fraction of rows per phase).
    """
    rows = int(arrays["frames"].shape[0])
    dur = rows * float(tick_s)
    rate = {col: float(np.sum(arrays[col])) / dur for col in WORK_COLUMNS}
    counts = np.bincount(arrays["phase_id"], minlength=len(arrays["phase_names"]))
    return {
        "rows": rows,
        "duration_s": dur,
        "tick_s": float(tick_s),
        "mean_fps": float(np.sum(arrays["frames"])) / dur,
        "ui_mc_per_s": rate["ui_mc"],
        "worker_mc_per_s": rate["worker_mc"],
        "bg_mc_per_s": rate["bg_mc"],
        "cpu_mc_per_s": rate["ui_mc"] + rate["worker_mc"] + rate["bg_mc"],
        "gpu_mc_per_s": rate["gpu_mc"],
        "phase_share": {str(nm): float(c) / rows for nm, c in zip(arrays["phase_names"], counts, strict=True) if c > 0},
    }


# --------------------------------------------------------------------------------------------- internals


def _integer_ratio(big: float, small: float) -> int:
    ratio = float(big) / float(small)
    r = round(ratio)
    if r < 1 or abs(ratio - r) > 1e-9 * ratio:
        raise MetaDVFSError(
            f"cannot resample between tick {big:g} s and {small:g} s: the ratio {ratio:.6g} must be an integer"
        )
    return int(r)


def _check_writable(dest: Path) -> None:
    if dest.is_dir():
        raise MetaDVFSError(f"{dest}: is a directory; give a file path ending in .csv or .parquet")
    parent = first_existing_ancestor(dest)
    if parent is not None and not parent.is_dir():
        raise MetaDVFSError(f"{dest}: cannot write trace: {parent} is not a directory")


def _check_schema(schema: Any, source_name: str) -> None:
    if schema not in TRACE_SCHEMAS:
        found = "none" if schema is None else repr(schema)
        expected = " or ".join(repr(s) for s in TRACE_SCHEMAS)
        raise MetaDVFSError(f"{source_name}: trace schema: found {found}, expected {expected}")


def _check_meta(meta: TraceMeta, source_name: str) -> None:
    if not isinstance(meta, TraceMeta):
        raise MetaDVFSError(f"{source_name}: trace metadata must be a TraceMeta, got {type(meta).__name__}")
    _check_schema(meta.schema, source_name)
    where = f"{source_name}: trace metadata field"
    if not isinstance(meta.app, str) or not meta.app:
        raise MetaDVFSError(f"{where} 'app': {meta.app!r} must be a non-empty string")
    tick = meta.tick_s
    if isinstance(tick, bool) or not isinstance(tick, numbers.Real) or not math.isfinite(tick):
        raise MetaDVFSError(f"{where} 'tick_s': {tick!r} is not a finite number")
    if not TICK_S_MIN <= tick <= TICK_S_MAX:
        raise MetaDVFSError(f"{where} 'tick_s': {tick:g} s is out of range; allowed [{TICK_S_MIN:g}, {TICK_S_MAX:g}] s")
    fps = meta.target_fps
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps) or not 0 < fps <= 240:
        raise MetaDVFSError(f"{where} 'target_fps': {fps!r} is out of range; allowed (0, 240] frames/s")
    if meta.source not in TRACE_SOURCES:
        raise MetaDVFSError(f"{where} 'source': {meta.source!r}; choose one of: {', '.join(TRACE_SOURCES)}")
    if meta.seed is not None and (isinstance(meta.seed, bool) or not isinstance(meta.seed, numbers.Integral)):
        raise MetaDVFSError(f"{where} 'seed': {meta.seed!r} must be an integer or null")
    if meta.device is not None and not isinstance(meta.device, str):
        raise MetaDVFSError(f"{where} 'device': {meta.device!r} must be a string or null")
    if not isinstance(meta.extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.extra.items()
    ):
        raise MetaDVFSError(f"{where} 'extra': must be a mapping of strings to strings")
    if meta.input is not None:
        if meta.schema == TRACE_SCHEMAS[0]:
            raise MetaDVFSError(f"{where} 'input': the input-event track needs schema {TRACE_SCHEMA!r}")
        from metadvfs.workload.input_events import track_from_json

        track_from_json(meta.input, source_name)


def _extra_phases(meta: TraceMeta) -> list[str] | None:
    raw = meta.extra.get("phases")
    if raw is None or raw == "":
        return None
    return raw.split(",")


def _numeric_column(series: pd.Series, col: str, source_name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        coerced = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(coerced.isna().to_numpy() & series.notna().to_numpy())
        if bad.size:
            r = int(bad[0])
            raise MetaDVFSError(
                f"{source_name}: column {col!r}: non-numeric value {series.iloc[r]!r} at row {r}; allowed numbers"
            )
        series = coerced
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        r = int(bad[0])
        kind = "NaN/missing" if np.isnan(values[r]) else "infinite"
        raise MetaDVFSError(f"{source_name}: column {col!r}: {kind} value at row {r}; allowed finite numbers")
    return values


def _read_csv(src: Path) -> tuple[pd.DataFrame, TraceMeta]:
    name = str(src)
    try:
        with open(src, encoding="utf-8", newline="") as fh:
            first = fh.readline()
            if not first.startswith(CSV_MAGIC.rstrip()):
                shown = first.strip()[:40]
                raise MetaDVFSError(
                    f"{name}: trace schema: found no '{CSV_MAGIC.strip()}' header line "
                    f"(first line {shown!r}), expected {TRACE_SCHEMA!r}"
                )
            try:
                doc = json.loads(first[len(CSV_MAGIC.rstrip()) :].strip() or "null")
            except json.JSONDecodeError as exc:
                raise MetaDVFSError(f"{name}: trace header is not valid JSON: {exc.msg}") from None
            meta = meta_from_dict(doc, name)
            na = {col: _NA_NUMERIC for col in NUMERIC_COLUMNS}
            na["phase"] = [""]
            df = pd.read_csv(fh, keep_default_na=False, na_values=na, **_CSV_PRECISION)
    except UnicodeDecodeError:
        raise MetaDVFSError(f"{name}: not a CSV trace (binary or non-UTF-8 content)") from None
    except pd.errors.EmptyDataError:
        raise MetaDVFSError(f"{name}: trace has no CSV header row and zero rows") from None
    except (pd.errors.ParserError, ValueError) as exc:
        if isinstance(exc, MetaDVFSError):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MetaDVFSError(f"{name}: not a valid CSV trace: {msg}") from None
    return df, meta


def _read_parquet(src: Path) -> tuple[pd.DataFrame, TraceMeta]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = str(src)
    try:
        table = pq.read_table(src)
    except (pa.ArrowException, OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MetaDVFSError(f"{name}: not a Parquet trace: {msg}") from None
    md = table.schema.metadata or {}
    raw = md.get(PARQUET_META_KEY)
    if raw is None:
        raise MetaDVFSError(
            f"{name}: trace schema: found no 'metadvfs' key in the Parquet metadata, expected {TRACE_SCHEMA!r}"
        )
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MetaDVFSError(f"{name}: Parquet 'metadvfs' metadata is not valid JSON") from None
    meta = meta_from_dict(doc, name)
    return table.to_pandas(), meta


def _canonical_frame(df: pd.DataFrame) -> pd.DataFrame:
    extra_cols = [c for c in df.columns if c not in TRACE_COLUMNS]
    out = df.loc[:, [*TRACE_COLUMNS, *extra_cols]].reset_index(drop=True)
    return out


def _normalize(df: pd.DataFrame, meta: TraceMeta) -> pd.DataFrame:
    out = df.reset_index(drop=True).copy()
    out["t_s"] = pd.to_numeric(out["t_s"]).astype(np.float64)
    out["frames"] = np.rint(pd.to_numeric(out["frames"]).to_numpy(dtype=np.float64)).astype(np.int64)
    for col in WORK_COLUMNS:
        out[col] = pd.to_numeric(out[col]).astype(np.float64)
    labels = out["phase"].astype(str)
    cats = _extra_phases(meta)
    if cats is None:
        cats = [str(x) for x in pd.unique(labels)]
    out["phase"] = pd.Categorical(labels, categories=cats)
    return out

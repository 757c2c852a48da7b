"""Reading a finished run folder back: its summary and the monthly columns an analysis needs.

Every analysis that reads many runs (``sim.compare``, ``sim.explore``) reads them here, after the
folder passed its integrity check (``sim.results.sealed_run``). A run is read in one pass over
its files: monthly.parquet is opened once (its footer gives the row count, checked against the
manifest's months, and the schema), only the wanted columns are decoded, and they stay numpy
arrays (``MonthlyColumns``) instead of becoming a pandas frame, which for a few hundred rows cost
more than reading them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


class RunUnreadable(ValueError):
    """A run folder whose checksums match but whose tables cannot be read as a run."""


class MonthlyColumns:
    """A run's monthly table as numpy columns, one entry per month.

    It answers the few questions analyses ask of a monthly DataFrame with the same spelling:
    ``table[name]`` (a numpy array), ``name in table``, ``table.columns``, ``table.keys()`` and
    ``len(table)`` (months, as for a frame), so code written for ``RunResult.monthly`` reads
    runs from disk unchanged. ``to_frame()`` gives the DataFrame.
    """

    __slots__ = ("_columns", "_months")

    def __init__(self, columns: dict[str, np.ndarray], months: int) -> None:
        self._columns = columns
        self._months = months

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return self._months

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def keys(self) -> list[str]:
        return list(self._columns)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._columns)


def read_run(run_dir: str | Path, wanted: Callable[[str], bool] | None = None,
             months: int | None = None) -> tuple[dict[str, Any], MonthlyColumns]:
    """summary.json and the ``wanted`` columns (all when None) of monthly.parquet of one run.

    ``months`` is what the run's manifest says it simulated; a table with another number of rows
    raises RunUnreadable, as does a summary or table that does not parse.
    """
    run_dir = Path(run_dir)
    try:
        table_file = pq.ParquetFile(run_dir / "monthly.parquet")
        names = table_file.schema_arrow.names
        columns = [c for c in names if wanted(c)] if wanted is not None else names
        # a run's table is a few hundred rows: pyarrow's thread pool costs more than it saves
        table = table_file.read(columns=columns, use_threads=False)
        summary = json.loads((run_dir / "summary.json").read_text())
    except Exception as err:  # truncated or garbled: the run has to be redone
        raise RunUnreadable(f"unreadable ({type(err).__name__}: {err})") from err
    rows = table_file.metadata.num_rows
    if months is not None and rows != months:
        raise RunUnreadable(f"monthly.parquet has {rows} rows, the manifest says {months} months")
    arrays = {name: column.to_numpy() for name, column in zip(table.column_names, table.columns)}
    return summary, MonthlyColumns(arrays, rows)


class ReadAhead:
    """Runs read on a thread or two a few runs ahead of their use, in the order they will be used.

    pyarrow decodes without holding the interpreter, so reading the next runs overlaps with
    reducing this one. At most ``ahead`` runs are held read but not yet taken, however many are
    listed; ``take`` returns a run (or raises its read error) in the listed order.
    """

    def __init__(self, jobs: list[tuple[Any, Callable[[], Any]]], ahead: int = 8, threads: int = 2) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self._waiting = deque(jobs)
        self._pending: dict[Any, Any] = {}
        self._ahead = ahead
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cxsim-read")
        self._fill()

    def _fill(self) -> None:
        while self._waiting and len(self._pending) < self._ahead:
            key, read = self._waiting.popleft()
            self._pending[key] = self._pool.submit(read)

    def take(self, key: Any) -> Any:
        if key not in self._pending:  # asked out of the listed order: read it now
            read = next(r for k, r in self._waiting if k == key)
            self._waiting.remove((key, read))
            return read()
        future = self._pending.pop(key)
        self._fill()
        return future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

"""Optuna storages for a baseline search: SQLite in the results folder by default, any RDB or a journal.

The contract with the storage is Optuna's: a RUNNING trial belongs to the process that asked for it,
and a finished trial is immutable. A shared database gets Optuna's heartbeat, so a run that died on
another host is noticed and its trials recovered.

A plain ``postgresql://`` URL means SQLAlchemy's default PostgreSQL driver, which since SQLAlchemy
2.1 is psycopg 3; effsearch depends on psycopg2 (the driver Optuna documents), so plain URLs are
read as ``postgresql+psycopg2://`` (:func:`normalise_url`). Name another driver explicitly to use it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from effsearch.errors import EffsearchError

HEARTBEAT_S = 20
GRACE_S = 90
"""A trial on a shared database whose owner has not been heard of for this long is stale."""
JOURNAL_PREFIX = "journal:"



def storage_kind(url: str) -> str:
    """``journal`` (a journal file), ``sqlite`` or ``rdb`` (any other SQLAlchemy URL)."""
    if url.startswith(JOURNAL_PREFIX) or ("://" not in url and url.endswith(".log")):
        return "journal"
    if "://" not in url:
        raise EffsearchError(f"storage {url!r} is not a database URL; use e.g. sqlite:///study.db, "
                             "postgresql+psycopg2://user@host/db or journal:PATH")
    return "sqlite" if url.startswith("sqlite") else "rdb"


def journal_path(url: str) -> Path:
    return Path(url[len(JOURNAL_PREFIX):] if url.startswith(JOURNAL_PREFIX) else url)


def display_url(url: str) -> str:
    """The storage URL with any password hidden, for logs and ``run.json``."""
    if storage_kind(url) == "journal":
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported when it is opened
        return url


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` -> ``postgresql+psycopg2://`` (the driver effsearch installs)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg2://" + url[len(plain):]
    return url


def open_storage(url: str, *, create_folder: bool = False) -> BaseStorage:
    """An Optuna storage for ``url``; a shared database gets a heartbeat so dead runs are noticed.

    A trial whose owner went silent is failed by Optuna and its architecture queued again
    (:func:`effsearch.search.study.requeue_stale`). The folder of an SQLite file is created only
    with ``create_folder`` (the results folder's own ``study.db``); a URL naming a folder that does
    not exist is refused. Several processes may create the same new SQLite database at once: its
    tables are created under a file lock.
    """
    url = normalise_url(url)
    from effsearch.search.study import requeue_stale

    kind = storage_kind(url)
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = journal_path(url)
        if not str(path).strip() or path.is_dir():
            raise EffsearchError(f"storage {url!r}: a journal needs a file, e.g. journal:results/study.log")
        if create_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise EffsearchError(f"storage {url}: folder {path.parent} does not exist; create it or name another file")
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise EffsearchError(f"cannot open storage {url}: {exc.strerror or exc}") from None
    kwargs: dict[str, Any] = {}
    lock = contextlib.nullcontext()
    if kind == "sqlite" and _in_memory(url):
        raise EffsearchError(f"storage {url!r} is an in-memory SQLite database, which the study would not outlive; "
                             "name a file, e.g. sqlite:///results/study.db")
    if kind == "sqlite":
        # The main process is the only writer, but a reader (the dashboard) may hold the file briefly.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        lock = _sqlite_lock(url, create_folder)
    else:
        kwargs.update(heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S, heartbeat_stale_trial_callback=requeue_stale)
    try:
        with lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(url, **kwargs)
    except ModuleNotFoundError as exc:
        raise EffsearchError(f"storage {display_url(url)} needs the Python package {exc.name!r}; pip install it") from None
    except Exception as exc:  # SQLAlchemy raises many types; the user needs one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EffsearchError(f"cannot open storage {display_url(url)}: {first}") from None
    if kind == "sqlite":
        _write_ahead(storage.engine)
    return storage


def inside(url: str, folder: Path) -> bool:
    """Whether ``url`` is an SQLite or journal file inside ``folder`` (whose creation the run owns)."""
    kind = storage_kind(url)
    if kind == "journal":
        path = journal_path(url)
        return bool(str(path).strip()) and path.resolve().is_relative_to(Path(folder).resolve())
    if kind != "sqlite":
        return False
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return bool(database) and Path(database).resolve().is_relative_to(Path(folder).resolve())


def _in_memory(url: str) -> bool:
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception:  # an unparsable URL is reported when it is opened
        return False
    return not database or database == ":memory:" or "mode=memory" in url


@contextlib.contextmanager
def _sqlite_lock(url: str, create_folder: bool) -> Iterator[None]:
    """Hold an exclusive lock beside the database while its tables are created (or found)."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        yield
        return
    path = Path(database)
    if create_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise EffsearchError(f"storage {url}: folder {path.parent} does not exist; create it or name another file")
    from filelock import FileLock

    with FileLock(str(path.with_name(f"{path.name}.lock"))):  # portable: fcntl on POSIX, msvcrt on Windows
        yield


def _write_ahead(engine: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: a commit no longer waits for the disk.

    A trial makes a few dozen small commits (every suggested parameter and attribute is one);
    with the default rollback journal each waits for an fsync, which on a busy disk costs more
    than a small proxy training. In WAL mode a committed transaction survives the process being
    killed (it is in the log, which the next open replays); only a power cut may drop the last
    commits, never corrupt the file. Readers such as the dashboard no longer block the search.
    """
    from sqlalchemy import event

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # stays in the old mode where WAL is impossible (NFS)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened while creating the tables predate the pragmas


def close_storage(storage: BaseStorage) -> None:
    """Release connections; for SQLite this folds the write-ahead log back into ``study.db``."""
    backend = getattr(storage, "_backend", storage)  # a study wraps its storage in a cache
    if isinstance(backend, optuna.storages.RDBStorage):
        backend.remove_session()
        backend.engine.dispose()



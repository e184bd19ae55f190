"""Where a sweep's study lives, and how workers share it: opening a journal file, SQLite or PostgreSQL
storage; the setup lock that lets any number of workers create or join a study at the same moment (a lock
file beside a journal or SQLite file, an advisory lock in PostgreSQL); and the journal's heartbeat, which
Optuna gives databases but not journal files.
"""

import contextlib
import functools
import os
import re
import time
import warnings
from pathlib import Path

from ..errors import MnistlabError

HEARTBEAT, STALE_AFTER = 60, 180  # seconds; a study's workers all use the values its first worker stored
HEARTBEAT_ATTR = "mnistlab:heartbeat"  # a journal trial's last heartbeat, seconds since the epoch
PG_SETUP_LOCK = 0x6D6E_6973_7477_6B21  # PostgreSQL advisory lock key held while a worker sets up its study


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise MnistlabError("mnistlab sweep needs optuna: pip install -r requirements.txt") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its INFO line per trial would interleave with ours
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage_url(url: str | None, study: str) -> str:
    """None -> studies/<study>.journal in the working directory; postgres:// and postgresql:// get psycopg 3."""
    if not url:
        return str(Path("studies") / f"{study}.journal")
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def redact(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def open_storage(url: str, create: bool = True):
    optuna = import_optuna()
    if "://" in url:
        from sqlalchemy.exc import IntegrityError, ProgrammingError

        engine_kwargs = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            # Workers queue for SQLite's single writer; its 5 s default wait fails a trial under load.
            engine_kwargs["connect_args"] = {"timeout": 120}
        for attempt in range(5):
            try:
                # The heartbeat marks a dead worker's trial FAIL after the grace period, so it is run again.
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT, grace_period=STALE_AFTER
                )
            except (IntegrityError, ProgrammingError) as e:
                # Databases without a setup lock (MySQL): workers that start together on an empty database race
                # to create Optuna's tables; the loser sees a duplicate-key error and, a moment later, the tables.
                error = e
                time.sleep(0.5 + attempt)
            except Exception as e:  # SQLAlchemy and driver errors: a wrong host, password or URL is user input
                error = e
                break
        raise MnistlabError(f"storage {redact(url)}: cannot open: {_first_line(error)}")
    path = Path(url)
    if not create and not path.is_file():
        raise MnistlabError(f"storage {url}: no such journal file")
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # An O_EXCL lock file, not a symlink: that also holds on NFS, so machines can share the journal there.
        backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
        storage = _heartbeat_journal()(backend)
    except OSError as e:
        raise MnistlabError(f"storage {url}: cannot open: {e.strerror or e}") from None
    storage.heartbeat_interval, storage.grace_period = HEARTBEAT, STALE_AFTER
    return storage


@functools.cache
def _heartbeat_journal():
    """JournalStorage with the heartbeat that Optuna gives only its database storages.

    The worker running a trial writes the time into the trial every `heartbeat_interval` seconds; a running
    trial whose last write (or, before the first, its start) is `grace_period` seconds old is stale. Times are
    the writers' clocks: machines sharing a journal over NFS need clocks closer than the grace period.
    """
    optuna = import_optuna()
    from optuna.storages._heartbeat import BaseHeartbeat  # not exported; Optuna's optimize() looks for it
    from optuna.storages.journal import JournalStorage

    class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
        heartbeat_interval: int | None = None
        grace_period: int | None = None
        heartbeat_stale_trial_callback = None

        def record_heartbeat(self, trial_id: int) -> None:
            try:
                self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker failed it as stale; this worker learns so at its trial's next write

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now, stale = time.time(), []
            for t in self.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                beat = t.system_attrs.get(HEARTBEAT_ATTR)
                if beat is None and t.datetime_start is not None:  # naive local time, as the journal keeps it
                    beat = t.datetime_start.timestamp()
                if beat is not None and now - beat > self.grace_period:
                    stale.append(t._trial_id)
            return stale

        def get_heartbeat_interval(self) -> int | None:
            return self.heartbeat_interval

        def get_heartbeat_stale_trial_callback(self):
            return self.heartbeat_stale_trial_callback

    return HeartbeatJournalStorage


@contextlib.contextmanager
def setup_lock(url: str):
    """Held while a worker creates or joins a study, so workers that start together cannot interleave.

    Optuna creates its tables with check-then-create steps (SQLite: `table studies already exists`), and a
    study's settings are checked, then stored: one lock per storage makes both a single step.
    """
    if "://" not in url:
        with _file_lock(Path(url), url):
            yield
    elif url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        db = make_url(url).database
        with _file_lock(Path(db), url) if db and db != ":memory:" else contextlib.nullcontext():
            yield
    elif url.startswith("postgresql"):
        with _pg_lock(url):
            yield
    else:  # other databases: open_storage retries the table creation
        yield


@contextlib.contextmanager
def _file_lock(target: Path, url: str):
    import fcntl

    # flock on a file of its own beside the storage: waiters wake as soon as it is free, and the kernel frees
    # it when its holder dies, even by kill -9 (on NFS, Linux maps flock to the server's locks). Not the
    # journal's own lock file, which the set-up's appends take; not the SQLite file, whose locks a close of
    # another descriptor on it would drop.
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{target}.setup.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise MnistlabError(f"storage {url}: cannot open: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _pg_lock(url: str):
    import sqlalchemy

    # A session-level advisory lock: the server frees it when the connection ends, even on kill -9.
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        conn = engine.connect()
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": PG_SETUP_LOCK})
        conn.commit()
    except Exception as e:  # a wrong host, password or database: user input
        engine.dispose()
        raise MnistlabError(f"storage {redact(url)}: cannot open: {_first_line(e)}") from None
    try:
        yield
    finally:
        conn.close()
        engine.dispose()


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]

"""Optuna heartbeats for the trials a search has in flight, on storages that use them (shared RDBs).

The loop asks and tells trials itself instead of calling ``Study.optimize``, so it records the
heartbeats Optuna's stale-trial detection listens for: a thread beats for every trial in flight.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna


class Heartbeat:
    """Records Optuna heartbeats for the trials in flight, on storages that use them (shared RDBs)."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        getter = getattr(storage, "get_heartbeat_interval", None)  # Optuna's BaseHeartbeat interface
        self._interval = getter() if callable(getter) else None
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self._interval:
            self._thread = threading.Thread(target=self._beat, name="effsearch-heartbeat", daemon=True)
            self._thread.start()

    def track(self, trial: optuna.Trial) -> None:
        if self._interval:
            with self._lock:
                self._ids.add(trial._trial_id)  # the storage API speaks trial ids
            self._storage.record_heartbeat(trial._trial_id)

    def untrack(self, trial: optuna.Trial) -> None:
        with self._lock:
            self._ids.discard(trial._trial_id)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                ids = list(self._ids)
            for trial_id in ids:
                try:
                    self._storage.record_heartbeat(trial_id)
                except Exception:  # a missed beat is retried on the next tick
                    continue

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

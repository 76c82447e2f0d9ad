"""Every MLMD call a store makes: counted, refused when it must not run, retried
while transient, its error translated (see `zen_mlmd.mlmd.store_errors`).

`CallPolicy.install` routes every call of an `ml_metadata.MetadataStore`
through one policy. The policy holds no store: ml-metadata's store keeps the
policy, so a `raw` store used on its own still counts, refuses and retries,
and a store nobody holds is freed at once, with its database connection (no
reference cycle is left for a garbage collection to find).
"""
from __future__ import annotations

import collections
import random
import threading
import time
import weakref

from ml_metadata import errors as mlmd_errors

from zen_mlmd.errors import ReadOnlyStoreError, StoreError
from zen_mlmd.mlmd.store_errors import ambiguous_write_error, call_error, mysql_gone

#: Retried errors: a concurrent writer (Aborted) or a server that is briefly
#: away (Unavailable), and a MySQL connection lost to a server restart.
#: Unavailable and a lost connection: at most `MAX_TRIES` tries with
#: `RETRY_DELAYS` between them (1.5 s in all), then the error surfaces; one
#: try waits for gRPC `client_timeout_sec` (a refused connection fails at
#: once; an expired deadline is not retried, so a hung server costs one
#: timeout), for MySQL its connect timeout.
#: Aborted (the transaction was rolled back): tried again after short, growing,
#: jittered pauses (`ABORTED_FIRST_DELAY` doubling up to 1 s) until
#: `ABORTED_RETRY_SECONDS` have passed since the first try. In SQLite's WAL mode
#: MLMD gives up at once when another process holds the write lock (a
#: transaction that has read cannot wait for it), so many short tries are
#: what waits for the lock; with the rollback journal one try already waits
#: in MLMD's busy handler (~1.5 s).
#: ml-metadata's own retry of Aborted (5 tries, random sleeps of 2 s on
#: average, no upper bound) is not used: under this loop it made a store that
#: stays locked take over a minute and a half to fail.
RETRIED_ERRORS = (mlmd_errors.AbortedError, mlmd_errors.UnavailableError)
RETRY_DELAYS = (0.1, 0.4, 1.0)
ABORTED_FIRST_DELAY = 0.005
ABORTED_MAX_DELAY = 1.0
ABORTED_RETRY_SECONDS = 5.0
MAX_TRIES = len(RETRY_DELAYS) + 1


class CallPolicy:
    """How one store's calls go (see the module docstring).

    Attributes:
        calls: calls made, by RPC name (each counted once, however many tries).
        retried: retries, by RPC name.
        closed: True once the store was closed: every call is refused.
    """

    def __init__(self, store_name: str, read_only: bool):
        self.store_name = store_name
        self.read_only = read_only
        self.calls: collections.Counter[str] = collections.Counter()
        self.retried: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.closed = False

    def install(self, raw) -> None:
        """Route every call of `raw` (an `ml_metadata.MetadataStore`) through this policy.

        Each try goes to `raw._call_method` (one attempt), so that the policy's
        bounded loop is the only retry policy.
        """
        raw_ref, policy = weakref.ref(raw), self

        def call(method_name, request, response, extra_options=None):
            return policy.call(raw_ref(), method_name, request, response)  # the caller holds `raw`

        raw._call = call

    def call(self, raw, method_name: str, request, response):
        """One MLMD call through `raw`: refused, tried and translated as the module says."""
        if self.closed:
            raise self._closed_error(method_name)
        if self.read_only and method_name.startswith("Put"):
            raise ReadOnlyStoreError(
                f"{self.store_name}: {method_name} refused: the store was opened for reading "
                "only. Fix: open it for writing (`MetadataStoreComponent.open()`), as "
                "recording does")
        with self.lock:
            self.calls[method_name] += 1
        first_try = time.monotonic()
        attempt = unavailable = 0
        while True:
            attempt += 1
            try:
                return raw._call_method(method_name, request, response)
            except (TypeError, AttributeError):
                if self.closed:  # by another thread, during this call
                    raise self._closed_error(method_name) from None
                raise
            except (mlmd_errors.StatusError, RuntimeError) as exc:
                if (attempt > 1 and method_name.startswith("Put")
                        and isinstance(exc, mlmd_errors.AlreadyExistsError)):
                    # an earlier try failed without an answer, yet wrote
                    raise ambiguous_write_error(self.store_name, method_name, exc) from None
                delay = None
                if isinstance(exc, mlmd_errors.AbortedError):  # rolled back: try again
                    delay = min(ABORTED_MAX_DELAY, ABORTED_FIRST_DELAY * 2 ** (attempt - 1))
                    delay *= random.uniform(0.5, 1.0)  # writers that collided part ways
                    if time.monotonic() + delay - first_try > ABORTED_RETRY_SECONDS:
                        delay = None
                elif isinstance(exc, RETRIED_ERRORS) or mysql_gone(exc):
                    # Unavailable or a lost MySQL connection: MLMD reconnects next try
                    if unavailable < len(RETRY_DELAYS):
                        delay, unavailable = RETRY_DELAYS[unavailable], unavailable + 1
                if delay is None:
                    raise call_error(self.store_name, method_name, exc, attempt) from None
                with self.lock:
                    self.retried[method_name] += 1
                time.sleep(delay)

    def _closed_error(self, method_name: str) -> StoreError:
        return StoreError(f"{self.store_name}: {method_name} refused: the store was closed. "
                          "Fix: open it again (`MetadataStoreComponent.open()`)")

"""A store lets go of its database connection when closed, or as soon as nobody holds it.

The connections are counted from outside the store: file descriptors on the
SQLite file, the server's own process list on MariaDB and PostgreSQL. The
garbage collector is off while counting, so a connection that only a
collection would free (a reference cycle) is seen as kept.
"""
from __future__ import annotations

import gc
import os
from typing import Callable

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from backends import BackendSpec, connection_config
from zen_mlmd.errors import StoreError
from zen_mlmd.mlmd.store import MetadataStore

DATABASE_BACKENDS = ["sqlite", "mysql", "mysql_tls", "postgresql"]


def connection_counter(spec: BackendSpec) -> Callable[[], int]:
    """How many connections the store's database has now (this process's, for SQLite)."""
    if spec.name == "sqlite":
        path = os.path.realpath(spec.options["path"])

        def sqlite_count() -> int:
            fds = os.listdir("/proc/self/fd")
            return sum(1 for fd in fds if _target(fd) == path)
        return sqlite_count
    if spec.name.startswith("mysql"):
        import pymysql

        def mysql_count() -> int:
            with pymysql.connect(host=spec.options["host"], port=spec.options["port"],
                                 user=os.environ["ZEN_MLMD_TEST_MYSQL_USER"],
                                 password=os.environ["ZEN_MLMD_TEST_MYSQL_PASSWORD"],
                                 connect_timeout=5) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s",
                               (spec.options["database"],))
                return cursor.fetchone()[0]
        return mysql_count
    import pg8000.native

    def postgresql_count() -> int:
        connection = pg8000.native.Connection(
            spec.options["user"], host=spec.options["host"], port=spec.options["port"],
            password=spec.options["password"], database="postgres", timeout=10)
        try:
            [[count]] = connection.run("SELECT count(*) FROM pg_stat_activity WHERE datname = :name",
                                       name=spec.options["dbname"])
            return count
        finally:
            connection.close()
    return postgresql_count


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # closed meanwhile (the listing's own descriptor)
        return ""


@pytest.fixture
def gc_off():
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def open_store(spec: BackendSpec) -> MetadataStore:
    store = MetadataStore(connection_config(spec), store_name=f"test-{spec.name}")
    store.put_context_type(pb.ContextType(name="connected"))  # the connection is in use
    return store


@pytest.mark.parametrize("backend", DATABASE_BACKENDS, indirect=True)
@pytest.mark.parametrize("how", ["closed", "dropped"])
def test_the_connection_goes_when_the_store_is_closed_or_dropped(backend, how, gc_off):
    open_store(backend).close()  # the schema exists: opening counts only the connection
    count = connection_counter(backend)
    before = count()
    store = open_store(backend)
    assert count() > before
    if how == "closed":
        store.close()
    else:
        del store
    assert count() == before


def test_a_closed_store_refuses_calls_and_says_how_to_open_it_again(tmp_path):
    store = open_store(BackendSpec("sqlite", "sqlite", {"path": str(tmp_path / "m.sqlite")}))
    store.close()
    store.close()  # again: nothing happens
    with pytest.raises(StoreError, match=r"test-sqlite: GetContextTypes refused: the store was "
                                         r"closed\. Fix: open it again"):
        store.get_context_types()
    assert store.closed


def test_a_method_taken_from_a_store_keeps_it_for_the_call(tmp_path, gc_off):
    spec = BackendSpec("sqlite", "sqlite", {"path": str(tmp_path / "m.sqlite")})
    open_store(spec).close()

    def read_only():
        return MetadataStore(connection_config(spec), store_name="reader", read_only=True)

    assert [t.name for t in read_only().get_context_types()] == ["connected"]
    with pytest.raises(StoreError, match="reader: PutContextType refused: the store was opened for reading only"):
        read_only().put_context_type(pb.ContextType(name="written"))


def test_mlmd_s_store_kept_without_its_store_still_counts_refuses_and_translates(tmp_path, gc_off):
    """`store.raw` handed to other MLMD tooling keeps zen_mlmd's rules after the store goes."""
    from zen_mlmd.errors import ReadOnlyStoreError

    spec = BackendSpec("sqlite", "sqlite", {"path": str(tmp_path / "m.sqlite")})
    open_store(spec).close()
    raw = MetadataStore(connection_config(spec), store_name="reader", read_only=True).raw
    assert [t.name for t in raw.get_context_types()] == ["connected"]
    with pytest.raises(ReadOnlyStoreError, match="reader: PutContextType refused"):
        raw.put_context_type(pb.ContextType(name="written"))
    with pytest.raises(StoreError, match="reader: GetContextType failed: .*Fix: run `zen-mlmd metadata-store check"):
        raw.get_context_type("no-such-type")  # MLMD's NotFound, translated

    closed = open_store(spec)
    kept = closed.raw
    closed.close()
    del closed
    with pytest.raises(StoreError, match="test-sqlite: GetContextTypes refused: the store was closed"):
        kept.get_context_types()


def test_a_call_overtaken_by_a_close_says_the_store_was_closed(tmp_path):
    store = open_store(BackendSpec("sqlite", "sqlite", {"path": str(tmp_path / "m.sqlite")}))
    send = store.raw._call_method

    def closed_on_the_way(*args):
        store.close()  # as another thread may, while this call is on its way
        return send(*args)

    store.raw._call_method = closed_on_the_way
    with pytest.raises(StoreError, match="test-sqlite: GetContextTypes refused: the store was closed"):
        store.get_context_types()

"""Import TFX the way this environment allows, and build its store connection.

ml-pipelines-sdk ships `tfx.types.standard_artifacts`, which imports the
`tfx.extensions` package that only the full TFX distribution has: an empty
module stands in for it (nothing used here needs it).
"""
import sys
import types

sys.modules.setdefault("tfx.extensions", types.ModuleType("tfx.extensions"))

from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx.orchestration import metadata  # noqa: E402


def connection_config(sqlite=None, grpc=None):
    """TFX's own helper for SQLite; a `MetadataStoreClientConfig` for a gRPC server."""
    if sqlite:
        return metadata.sqlite_metadata_connection_config(sqlite)
    host, _, port = grpc.rpartition(":")
    return metadata_store_pb2.MetadataStoreClientConfig(host=host, port=int(port))

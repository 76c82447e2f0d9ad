"""An MLMD gRPC server in front of any database-backed MLMD store.

It speaks ml-metadata's own `ml_metadata.MetadataStoreService` (what
Kubeflow's `metadata-grpc-service` speaks), so any MLMD client, including
`ml_metadata.MetadataStore(MetadataStoreClientConfig(...))`, can use it.

Importing this package is cheap; grpc and ml-metadata load when a server
starts. Run it with `python -m zen_mlmd.server --help`.
"""
from zen_mlmd.server.runner import (
    DEFAULT_MAX_MESSAGE_MB,
    RunningServer,
    ServerTLS,
    serve_forever,
    start_server,
    write_ready_file,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_MB",
    "RunningServer",
    "ServerTLS",
    "serve_forever",
    "start_server",
    "write_ready_file",
]

"""gRPC metadata (a bearer token) on every call of an ml_metadata gRPC client.

MLMD's `MetadataStoreClientConfig` has no field for credentials other than
TLS files, so `attach` rebuilds the client's stub over the same channel
settings with an interceptor that adds the metadata to each call.
"""
from __future__ import annotations

import collections
from typing import Sequence

import grpc


class _CallDetails(collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                         "compression")), grpc.ClientCallDetails):
    pass


class _AddMetadata(grpc.UnaryUnaryClientInterceptor):
    """Appends fixed metadata to every unary call (all of MLMD's RPCs are unary)."""

    def __init__(self, metadata: Sequence[tuple[str, str]]):
        self._metadata = tuple(metadata)

    def intercept_unary_unary(self, continuation, details, request):
        metadata = (*(details.metadata or ()), *self._metadata)
        return continuation(_CallDetails(details.method, details.timeout, metadata,
                                         details.credentials, details.wait_for_ready,
                                         details.compression), request)

    def __repr__(self) -> str:  # the metadata holds a token
        return "<call metadata: hidden>"


def attach(raw_store, client_config, metadata: Sequence[tuple[str, str]]) -> None:
    """Make every call of `raw_store` (an `ml_metadata.MetadataStore` over gRPC) carry `metadata`."""
    from ml_metadata.proto import metadata_store_service_pb2_grpc

    channel = grpc.intercept_channel(raw_store._get_channel(client_config), _AddMetadata(metadata))
    raw_store._metadata_store_stub = metadata_store_service_pb2_grpc.MetadataStoreServiceStub(channel)

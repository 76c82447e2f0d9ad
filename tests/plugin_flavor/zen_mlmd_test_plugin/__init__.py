"""A third-party metadata-store flavor, as a plugin author would write one.

`memory` is MLMD's in-memory fake database: every connection is a new,
empty store. (setup.cfg also registers a deliberately broken entry point.)
"""
from zen_mlmd.flavors import FlavorConfig, MetadataStoreFlavor, PreflightReport


class MemoryConfig(FlavorConfig):
    """No options: the store lives and dies with its connection."""


class MemoryFlavor(MetadataStoreFlavor):
    name = "memory"
    integration = "zen-mlmd-test-plugin-flavor"
    notes = "MLMD's in-memory fake database; for tests."
    config_class = MemoryConfig

    def connection_config(self, config):
        from ml_metadata.proto import metadata_store_pb2

        proto = metadata_store_pb2.ConnectionConfig()
        proto.fake_database.SetInParent()
        return proto

    def preflight(self, config, timeout=5.0):
        return PreflightReport(True, "memory://")


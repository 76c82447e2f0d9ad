"""Stacks: registered components, the active stack, the persisted config."""
from zen_mlmd.stack.components import (
    ArtifactStoreComponent,
    MetadataStoreComponent,
    OrchestratorComponent,
)
from zen_mlmd.stack.config import config_dir
from zen_mlmd.stack.stack import Stack, StackRegistry, get_active_stack

__all__ = [
    "ArtifactStoreComponent",
    "MetadataStoreComponent",
    "OrchestratorComponent",
    "Stack",
    "StackRegistry",
    "config_dir",
    "get_active_stack",
]

"""The registry's kept lookups and a registration made from another thread at the same time."""
from __future__ import annotations

import threading

from zen_mlmd.artifacts import Materializer, MaterializerRegistry


class Thing:
    pass


class ThingMaterializer(Materializer):
    name = "tests.thing"
    for_types = (Thing,)

    def save(self, obj, uri, store):
        raise NotImplementedError

    def load(self, uri, store, data_type):
        raise NotImplementedError


def test_a_registration_during_a_lookup_is_not_lost_to_the_kept_lookup():
    registry = MaterializerRegistry(entry_point_group=None)
    registering = threading.Thread(target=registry.register, args=(ThingMaterializer,))

    class RegisterMeanwhile(dict):
        """Where the registry keeps lookups: another thread registers while one is being kept."""

        def __len__(self):
            if not registering.is_alive() and registering.ident is None:
                registering.start()
                registering.join(0.5)  # it waits for the lookup to be kept, or is done already
            return super().__len__()

    registry._candidates = RegisterMeanwhile()
    assert registry.materializer_for(Thing()).name == "pickle"  # looked up before the registration
    registering.join()
    assert registry.materializer_for(Thing()).name == "tests.thing"

"""Every backend stores and returns an execution: the fixture wiring works."""
from ml_metadata.proto import metadata_store_pb2


def test_put_and_get_execution(metadata_store):
    execution_type = metadata_store_pb2.ExecutionType(name="smoke.Trainer")
    execution_type.properties["epochs"] = metadata_store_pb2.INT
    type_id = metadata_store.put_execution_type(execution_type)

    execution = metadata_store_pb2.Execution(
        type_id=type_id, name="smoke-run-1",
        last_known_state=metadata_store_pb2.Execution.COMPLETE)
    execution.properties["epochs"].int_value = 3
    execution.custom_properties["display_name"].string_value = "train"
    [execution_id] = metadata_store.put_executions([execution])

    [stored] = metadata_store.get_executions_by_id([execution_id])
    assert stored.name == "smoke-run-1"
    assert stored.type == "smoke.Trainer"
    assert stored.last_known_state == metadata_store_pb2.Execution.COMPLETE
    assert stored.properties["epochs"].int_value == 3
    assert stored.custom_properties["display_name"].string_value == "train"
    assert [e.id for e in metadata_store.get_executions()] == [execution_id]


def test_stores_are_fresh(metadata_store):
    # Runs after the test above on the same backend: nothing may leak across tests.
    assert metadata_store.get_executions() == []
    assert metadata_store.get_execution_types() == []

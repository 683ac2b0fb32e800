"""Contract tests: requests generated from the service's OpenAPI description, on a real server.

Schemathesis generates valid and invalid requests for every operation and checks
each answer: no server error, a documented status code and content type, a body
matching the documented schema, and invalid data refused with a 4xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from service_server import Server

pytestmark = pytest.mark.slow

#: Examples per operation and generation mode: enough to find shape bugs, quick to run.
EXAMPLES = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract")
    with Server(folder, folder / "store.duckdb", settings={"max_batch_events": 20}) as running:
        yield running


# A request of more events than max_batch_events violates the schema's maxItems, and the
# service answers 413 (too large, split it: README, "Errors and limits"): a refusal too.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5XX"]
"""


def operations(server):
    from schemathesis.config import SchemathesisConfig

    schema = schemathesis.openapi.from_url(
        server.url + "/openapi.json", config=SchemathesisConfig.from_str(CONFIG)
    )
    return [result.ok() for result in schema.get_all_operations()]


def test_the_description_covers_every_endpoint_and_the_bearer_scheme(server):
    described = {f"{op.method.upper()} {op.path}" for op in operations(server)}
    assert described == {
        "POST /events",
        "GET /recommendations/{user_id}",
        "GET /items/{item_id}/related",
        "POST /recommend",
        "GET /health",
    }
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json").raw_schema
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_every_operation_answers_as_described(server, mode):
    for operation in operations(server):
        if mode is schemathesis.GenerationMode.NEGATIVE and operation.path == "/health":
            continue  # it takes no input, so there is nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            # JSON Schema cannot say that keys must differ in more than case (the store's
            # column names do not); the service refuses such a batch with 422, as documented.
            assume(not _keys_clash(case.body))
            case.call_and_validate(base_url=server.url, headers=server.headers)

        check()


def _keys_clash(body) -> bool:
    """Whether the events of a POST /events body hold keys that differ only in case."""
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        return False
    spelled: dict[str, str] = {}
    for event in events:
        for name in event if isinstance(event, dict) else ():
            if spelled.setdefault(name.casefold(), name) != name:
                return True
    return False

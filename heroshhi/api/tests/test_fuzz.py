"""Schemathesis over the whole OpenAPI document, once per role (docs/adr/0018).

Each operation gets schemathesis' boundary cases (the coverage phase) and a bounded number
of valid and invalid requests generated with a fixed seed. Any 5xx, undocumented status,
body that breaks its documented schema or invalid request that is accepted is collected;
the test fails listing every operation that did so. The cases run through the whole Django
WSGI application, every middleware included, in the test's transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from heroshhi.accounts.services import api_key_create
from heroshhi.core.actors import Actor
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.fuzz

SEED = 14
EXAMPLES_PER_OPERATION = 5
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
MULTI_STATUS = 207
PER_ITEM_CHECKS = [check for check in CHECKS if check is not negative_data_rejection]


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Django closes a connection still inside a transaction at each request's edges; the
    cases run inside the test's, so that is turned off as Django's test client does."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


def _key_for(workspace, role: Role) -> str:
    return api_key_create(
        workspace=workspace,
        actor=Actor.user("fuzz", role=Role.OWNER),
        created_by=None,
        name=f"fuzz {role}",
        role=role,
    ).plaintext


class _Run:
    """Sends cases as one role, counting statuses and keeping each operation's findings."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []

    def send(self, case: schemathesis.Case) -> None:
        response = case.call(headers=self.headers)
        self.statuses[response.status_code] += 1
        if response.status_code == MULTI_STATUS:
            # A batch refuses its invalid items one by one (207) instead of the whole request.
            assert response.json()["failed"] >= 1, "a 207 that reports no failed item"
            case.validate_response(response, checks=PER_ITEM_CHECKS)
            return
        case.validate_response(response, checks=CHECKS)

    def boundaries(self, schema: BaseSchema, operation: APIOperation) -> None:
        """The coverage phase: every documented bound and type, just inside and just out."""
        config = schema.config.generation_for(operation=operation, phase="coverage")
        cases = schema.iter_coverage_cases(
            operation, generation_modes=MODES, generation_config=config
        )
        broken = []
        for case in cases:
            try:
                self.send(case)
            except (Exception, BaseExceptionGroup) as failure:
                broken.append(failure)
        if broken:
            self.failures.append(f"{operation.label} [coverage, {len(broken)} cases]: {broken[0]}")

    def examples(self, operation: APIOperation, mode: GenerationMode) -> None:
        @seed(SEED)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            self.send(case)

        try:
            run()
        # Schemathesis raises a BaseExceptionGroup; any other error is a finding too.
        except (Exception, BaseExceptionGroup) as failure:
            self.failures.append(f"{operation.label} [{mode.value}]: {failure}")


def _fuzz(headers: dict[str, str]) -> _Run:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    run = _Run(headers)
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            run.failures.append(f"the document has an operation it cannot test: {result.err()}")
            continue
        operation = result.ok()
        run.boundaries(schema, operation)
        for mode in MODES:
            run.examples(operation, mode)
    return run


@pytest.mark.parametrize("role", ["owner", "sales", "none"])
def test_the_api_keeps_its_contract_for_every_role(
    role, world, settings, in_test_transaction, record_property
):
    settings.API_RATE_LIMIT_PER_MINUTE = 1_000_000
    settings.API_ANONYMOUS_RATE_LIMIT_PER_MINUTE = 1_000_000
    headers = {} if role == "none" else {"Authorization": f"Bearer {_key_for(world.a, role)}"}
    run = _fuzz(headers)
    # conftest.py sums these over the run (and the xdist workers) in the terminal summary.
    record_property("fuzz_cases", {role: dict(run.statuses)})
    assert not run.failures, f"{len(run.failures)} findings:\n\n" + "\n\n".join(run.failures)

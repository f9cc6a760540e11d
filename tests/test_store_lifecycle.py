"""The strategy lifecycle as a state machine (hypothesis): random transitions on a real store
(SQLite and PostgreSQL) against a model of the allowed moves. Legal moves are applied and recorded
with their event; illegal ones raise IllegalTransitionError and change nothing."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from quant_engine.store import (
    IllegalTransitionError,
    Status,
    Store,
    add_strategy,
    get_strategy,
    open_store,
    read_events,
    transition,
    transitions,
)
from store_support import ENGINES, new_store_url, pg_server, spec  # noqa: F401

# The oracle: the lifecycle written out independently of quant_engine.store.lifecycle.
ALLOWED = {
    ("candidate", "testing"),
    ("testing", "failed"),
    ("testing", "graduated"),
    ("graduated", "promoted"),
    ("graduated", "retired"),
    ("promoted", "retired"),
}
STATUSES = [s.value for s in Status]


class Lifecycle(RuleBasedStateMachine):
    """Strategies moved at random between statuses."""

    store: Store

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, list[str]] = {}  # hash -> statuses so far

    @initialize()
    def fresh_events(self) -> None:
        self.events_before = len(read_events(self.store, limit=100_000))
        self.expected_events = 0

    @rule()
    def add(self) -> None:
        Lifecycle.counter += 1
        h = add_strategy(self.store, spec(2 + Lifecycle.counter % 40, 60 + Lifecycle.counter // 40)).hash
        self.model[h] = ["candidate"]
        self.expected_events += 1

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """A legal move when there is one (so strategies reach every status)."""
        h = data.draw(st.sampled_from(list(self.model)))
        nexts = sorted(b for a, b in ALLOWED if a == self.model[h][-1])
        if nexts:
            self._move(h, data.draw(st.sampled_from(nexts)))

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), to=st.sampled_from(STATUSES))
    def move(self, data: st.DataObject, to: str) -> None:
        """Any move, legal or not."""
        self._move(data.draw(st.sampled_from(list(self.model))), to)

    def _move(self, h: str, to: str) -> None:
        current = self.model[h][-1]
        if (current, to) in ALLOWED:
            assert transition(self.store, h, to, reason="model", actor="hypothesis").status == to
            self.model[h].append(to)
            self.expected_events += 1
        else:
            with pytest.raises(IllegalTransitionError):
                transition(self.store, h, to)

    @invariant()
    def store_matches_model(self) -> None:
        for h, path in self.model.items():
            assert get_strategy(self.store, h).status == path[-1]
            assert [t.to_status for t in transitions(self.store, h)] == path
        assert len(read_events(self.store, limit=100_000)) - self.events_before == self.expected_events

    counter = 0


@pytest.mark.parametrize("engine", ENGINES)
def test_lifecycle_state_machine(engine: str, tmp_path: Path) -> None:
    store = open_store(new_store_url(engine, tmp_path))
    Lifecycle.store = store
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
    store.close()


PATH_TO = {
    "candidate": [],
    "testing": ["testing"],
    "failed": ["testing", "failed"],
    "graduated": ["testing", "graduated"],
    "promoted": ["testing", "graduated", "promoted"],
    "retired": ["testing", "graduated", "promoted", "retired"],
}


@pytest.mark.parametrize("engine", ENGINES)
def test_every_pair_of_statuses(engine: str, tmp_path: Path) -> None:
    """Exhaustively: from each status, every requested status is allowed exactly when the oracle says so."""
    store = open_store(new_store_url(engine, tmp_path))
    for i, (a, b) in enumerate((a, b) for a in STATUSES for b in STATUSES):
        h = add_strategy(store, spec(2 + i, 200)).hash
        for step in PATH_TO[a]:
            transition(store, h, step)
        if (a, b) in ALLOWED:
            assert transition(store, h, b).status == b
        else:
            with pytest.raises(IllegalTransitionError):
                transition(store, h, b)
            assert get_strategy(store, h).status == a and len(transitions(store, h)) == 1 + len(PATH_TO[a])
    store.close()

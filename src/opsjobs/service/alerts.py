"""Alerts that set states (docs/api.md, "Alerts that set states"): each alert of a payload
resolved to an entity the caller may change, then every valid one applied in one
transaction, each as any change of state is (store/states.change_state), so triggers fire.

What the caller may not see is reported as what does not exist ("unknown-entity"), as a 404
would be; what it sees but may not change is "refused". Nothing is written before every
alert is judged, and the valid ones commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.alerts import Alert, AlertStates, Malformed
from ..domain.errors import NotFound
from ..domain.kinds import EntityKind
from ..domain.users import Principal
from ..store import retry
from ..store.core import Store
from ..store.entities import object_id_by_discovery
from ..store.states import StateChange, announce, change_state

# Who may change an entity's state, by its kind (as PATCH of its state_id).
CHANGERS = {
    EntityKind.OBJECT: ("modify-objects", "manage-objects"),
    EntityKind.LINK: ("modify-links", "manage-links"),
}


@dataclass(frozen=True, slots=True)
class Planned:
    number: int  # the alert's place in the payload
    kind: EntityKind
    entity_id: str
    state_id: int


def _result(alert: Alert | Malformed, entity: str | None, state, outcome: str, **more) -> dict:
    return {
        "fingerprint": alert.fingerprint,
        "entity": entity,
        "state": state,
        "outcome": outcome,
        **more,
    }


async def _entity(store: Store, alert: Alert) -> tuple[EntityKind, str] | None:
    """The entity the alert names, if it exists (the caller's sight is judged after)."""
    directory = store.directory
    if alert.entity_id is not None:
        if directory.object_exists(alert.entity_id):
            return EntityKind.OBJECT, alert.entity_id
        if directory.link_exists(alert.entity_id):
            return EntityKind.LINK, alert.entity_id
        return None
    object_id = await object_id_by_discovery(store, alert.discovery_id or "")
    return None if object_id is None else (EntityKind.OBJECT, object_id)


async def _judge(
    store: Store, principal: Principal, states: AlertStates, number: int, alert: Alert
) -> tuple[dict[str, Any], Planned | None]:
    state_id = states.state_for(alert)
    found = await _entity(store, alert)
    if found is None or not store.directory.can_see_entity(principal, found[0].word, found[1]):
        return _result(alert, alert.entity, state_id, "unknown-entity"), None
    kind, entity_id = found
    if not principal.rights.has_any(*CHANGERS[kind]):
        return _result(alert, entity_id, state_id, "refused"), None
    return _result(alert, entity_id, state_id, "pending"), Planned(
        number, kind, entity_id, state_id
    )


async def apply_alerts(
    store: Store,
    principal: Principal,
    states: AlertStates,
    alerts: list[Alert | Malformed],
) -> list[dict[str, Any]]:
    """One result per alert, in the payload's order; the valid alerts applied."""
    results: list[dict[str, Any]] = []
    planned: list[Planned] = []
    for number, alert in enumerate(alerts):
        if isinstance(alert, Malformed):
            results.append(_result(alert, None, None, "malformed", reason=alert.reason))
            continue
        result, plan = await _judge(store, principal, states, number, alert)
        results.append(result)
        if plan is not None:
            planned.append(plan)
    if not planned:
        return results
    # Entities locked in ID order (two payloads never wait for each other's rows in a
    # circle); one entity's alerts in the payload's order.
    planned.sort(key=lambda p: (p.entity_id, p.number))

    async def work(conn) -> list[tuple[Planned, StateChange | None, str]]:
        done = []
        for plan in planned:
            try:
                change = await change_state(
                    conn, store, plan.kind, plan.entity_id, plan.state_id, user_id=principal.id
                )
            except NotFound:  # deleted since it was judged
                done.append((plan, None, "unknown-entity"))
                continue
            done.append((plan, change, "unchanged" if change is None else "changed"))
        return done

    for plan, change, outcome in await retry.write(store, work, "alerts"):
        results[plan.number]["outcome"] = outcome
        announce(store, change)
    return results

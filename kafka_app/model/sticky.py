"""The cooperative-sticky assignor (``CooperativeStickyAssignor`` on
``AbstractStickyAssignor``'s constrained builder, used when every member
subscribes to the same topics).

Every member keeps what it owned, up to its quota (``floor(P/C)``, or one more
for the first ``P % C`` members to claim it); what is left is dealt round-robin,
in topic-then-partition order, to the members still under quota, sorted by
member id. A partition claimed by two members of the same generation is taken
from both. A partition that changes owner is not handed over in the same
rebalance: the old owner first revokes it, and the new owner gets it in the
next one (``partitionsTransferringOwnership``).

Members are visited in Java ``HashMap`` order of their ids, as Kafka does; it
decides who keeps a partition when too many members own a full quota.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .partitioner import java_string_hash

TP = tuple[str, int]


def java_hashmap_order(keys: list[str]) -> list[str]:
    """The order a ``java.util.HashMap`` of these string keys iterates in."""
    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = java_string_hash(key) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    return sorted(sorted(keys), key=bucket)


@dataclass
class StickyResult:
    assignment: dict[str, list[TP]]
    transferring: dict[TP, str] = field(default_factory=dict)

    def cooperative(self) -> dict[str, list[TP]]:
        """What each member gets this round: partitions changing owner wait for the next one."""
        return {member: [tp for tp in tps if self.transferring.get(tp) != member]
                for member, tps in self.assignment.items()}


def cooperative_sticky_assign(partitions_per_topic: dict[str, int], members: list[str],
                              owned: dict[str, list[TP]] | None = None,
                              generations: dict[str, int] | None = None) -> StickyResult:
    owned = owned or {}
    generations = generations or {}
    every = sorted((topic, p) for topic, count in partitions_per_topic.items() for p in range(count))
    claims = _valid_claims(every, members, owned, generations)
    total, count = len(every), len(members)
    min_quota, max_quota = (total // count, -(-total // count)) if count else (0, 0)
    expected_over_min = total % count if count else 0
    over_min = 0
    assignment: dict[str, list[TP]] = {member: [] for member in members}
    revoked: set[TP] = set()
    under_min: list[str] = []
    exactly_min: list[str] = []
    for member in java_hashmap_order(members):
        mine = sorted(claims.get(member, []), key=lambda tp: (tp[1], tp[0]))
        if len(mine) < min_quota:
            assignment[member].extend(mine)
            under_min.append(member)
        elif len(mine) >= max_quota and over_min < expected_over_min:
            over_min += 1
            if over_min == expected_over_min:
                exactly_min.clear()
            assignment[member].extend(mine[:max_quota])
            revoked.update(mine[max_quota:])
        else:
            assignment[member].extend(mine[:min_quota])
            revoked.update(mine[min_quota:])
            if over_min < expected_over_min:
                exactly_min.append(member)
    assigned = {tp for tps in assignment.values() for tp in tps}
    contested = _contested(every, members, owned, generations)
    result = StickyResult(assignment)
    under_min.sort()
    exactly_min.sort()
    turn = 0
    for tp in (tp for tp in every if tp not in assigned):
        if under_min:
            turn %= len(under_min)
            member = under_min[turn]
        elif exactly_min:
            member = exactly_min.pop(0)
            over_min += 1
            if over_min == expected_over_min:
                exactly_min.clear()
        else:
            break
        assignment[member].append(tp)
        if tp in revoked or tp in contested:
            result.transferring[tp] = member
        size = len(assignment[member])
        if member in under_min and size == min_quota:
            under_min.remove(member)
            if over_min < expected_over_min:
                exactly_min.append(member)
        else:
            turn += 1
    return result


def _contested(every: list[TP], members: list[str], owned: dict[str, list[TP]],
               generations: dict[str, int]) -> set[TP]:
    """Partitions claimed by two or more members of the highest claiming generation."""
    contested = set()
    for tp in every:
        claimants = [m for m in members if tp in owned.get(m, [])]
        if claimants:
            top = max(generations.get(m, 0) for m in claimants)
            if sum(generations.get(m, 0) == top for m in claimants) > 1:
                contested.add(tp)
    return contested


def _valid_claims(every: list[TP], members: list[str], owned: dict[str, list[TP]],
                  generations: dict[str, int]) -> dict[str, list[TP]]:
    contested = _contested(every, members, owned, generations)
    claims: dict[str, list[TP]] = {m: [] for m in members}
    for tp in every:
        claimants = [m for m in members if tp in owned.get(m, [])]
        if not claimants or tp in contested:
            continue
        winner = max(claimants, key=lambda m: generations.get(m, 0))
        claims[winner].append(tp)
    return claims

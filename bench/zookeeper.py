"""ZooKeeper model figures: committed writes per wall-clock second in
fast-forward, and memory of a 10,000-znode tree and of an idle ensemble."""

from __future__ import annotations

import gc
import time
import tracemalloc

from zookeeper_app.model import Ensemble
from zookeeper_app.model.client import ZkClient
from zookeeper_app.model.datatree import CreateTxn, DataTree, Txn, TxnHeader
from zookeeper_app.model.prep import CreateRequest

WRITES = 5_000
PIPELINE = 200
TARGET_WRITES_PER_SECOND_5 = 5_000
TARGET_IDLE_BYTES = 2 * 1024 * 1024


def writes_per_second(servers: int) -> float:
    """A client keeps PIPELINE creates in flight; time the simulation until WRITES commit."""
    ens = Ensemble(servers=servers, seed=1, tick_time=200)
    ens.run_for(2)
    ens.client("c1").start()
    node = ens.sim.nodes["c1"]
    assert isinstance(node, ZkClient)
    submitted = done = 0
    start = time.perf_counter()
    while done < WRITES:
        while submitted - done < PIPELINE and submitted < WRITES:
            node.submit(ens.sim, CreateRequest(f"/n{submitted}", b"x"))
            submitted += 1
        ens.sim.run_until(ens.sim.now + 10)
        done += len(node.replies)
        node.replies.clear()
    return WRITES / (time.perf_counter() - start)


def allocated(build) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def big_tree() -> DataTree:
    tree = DataTree()
    for index in range(10_000):
        txn = Txn(TxnHeader(0, index, index + 1, 0, "create"), CreateTxn(f"/n{index}", b"value", False, index + 1))
        tree.apply(txn)
    return tree


def idle_ensemble() -> Ensemble:
    ens = Ensemble(servers=3, seed=1, tick_time=200)
    ens.run_for(5)
    return ens


def main() -> None:
    print(f"ZooKeeper model: {WRITES:,} creates, {PIPELINE} in flight, best of 3")
    for servers in (3, 5):
        rate = max(writes_per_second(servers) for _ in range(3))
        verdict = "met" if rate >= TARGET_WRITES_PER_SECOND_5 else "NOT met"
        target = f" (target >= {TARGET_WRITES_PER_SECOND_5:,}: {verdict})" if servers == 5 else ""
        print(f"  {servers} servers: {rate:10,.0f} committed writes per wall-clock second{target}")
    tree_bytes, _ = allocated(big_tree)
    idle_bytes, _ = allocated(idle_ensemble)
    print(f"  a 10,000-znode tree: {tree_bytes / 1024 / 1024:.1f} MB ({tree_bytes / 10_000:.0f} bytes per znode)")
    verdict = "met" if idle_bytes < TARGET_IDLE_BYTES else "NOT met"
    print(f"  an idle 3-server ensemble: {idle_bytes / 1024:.0f} KB (target well under 2 MB: {verdict})")


if __name__ == "__main__":
    main()

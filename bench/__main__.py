"""``python -m bench``: the kernel and rendering figures, the ZooKeeper model's,
then the fan-out table (defaults)."""

from bench import fanout, kernel, zookeeper

kernel.main()
print(flush=True)
zookeeper.main()
print(flush=True)
fanout.main([])

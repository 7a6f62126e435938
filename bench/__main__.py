"""``python -m bench``: the kernel and rendering figures, the ZooKeeper and Kafka
models', then the fan-out table (defaults)."""

from bench import fanout, kafka, kernel, zookeeper

kernel.main()
print(flush=True)
zookeeper.main()
print(flush=True)
kafka.main()
print(flush=True)
fanout.main([])

"""``python -m bench``: the kernel and rendering figures, the ZooKeeper and Kafka
models', then the fan-out table (defaults), then hostile visitors: another lab's
viewers under a 10-socket command flood from one session and during a 600 s
forward of the heaviest lab, with the server's memory before, during and after."""

from bench import fanout, hostile, kafka, kernel, zookeeper

kernel.main()
print(flush=True)
zookeeper.main()
print(flush=True)
kafka.main()
print(flush=True)
fanout.main([])
print(flush=True)
hostile.main([])

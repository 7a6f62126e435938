"""``python -m bench``: the kernel and rendering figures, the ZooKeeper and Kafka
models', what each lab of the catalog costs to run and watch (``bench.labcost``), then the
fan-out table (500 viewers of the heaviest lab, ``kafka-shop``, at the
engine's real rate, beside a bare broadcast of the same bytes), a class of sandboxes
(N = 10, 30, 60 students each watching their own ``kafka-shop`` lab on one server), the
idle cost (paused and unwatched labs; 1,000 idle labs' memory), then hostile visitors:
another lab's viewers under a 10-socket command flood from one session and during a
600 s forward of the heaviest lab, with the server's memory before, during and after."""

from bench import classroom, fanout, hostile, idle, kafka, kernel, labcost, zookeeper

kernel.main()
print(flush=True)
zookeeper.main()
print(flush=True)
kafka.main()
print(flush=True)
labcost.main([])
print(flush=True)
fanout.main([])
print(flush=True)
classroom.main([])
print(flush=True)
idle.main([])
print(flush=True)
hostile.main([])

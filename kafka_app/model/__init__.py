"""The Kafka cluster model (pure Python, no Django), built up issue by issue.

So far: the producer's murmur2 partitioner and the group coordinator's
partition (``partitioner``), replica placement and the range and round-robin
assignors (``assignment``), the cooperative-sticky assignor (``sticky``), a partition's log with
segments, retention and compaction (``log``), the leader's ISR and
high-watermark rules (``replication``), the value types (``records``) and the protocol
errors with kafka-python's names (``errors``), each checked against Kafka's
own numbers. The ``Cluster`` entry point comes with the brokers, the
controller and replication.
"""

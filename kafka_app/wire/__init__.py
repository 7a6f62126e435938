"""Kafka's wire protocol, spoken by each simulated broker so that real clients (kafka-python,
kcat/librdkafka) can connect to a lab.

``codec`` reads and writes the protocol's primitive types and ``records`` its record batches
(pure Python, no Django, no I/O); the request and response schemas and the TCP listeners
are built on them.
"""

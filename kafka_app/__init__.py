"""The Kafka labs: a model of a Kafka 3.x cluster run by ZooKeeper and its clients
(``model``), the built-in scenarios and the actions a learner takes in them, what their page
shows (``frames`` and ``templates/kafka``), the ``LabKind`` that registers them with the
platform (``kind``), and the terminal clients (``manage.py kafka_produce`` / ``kafka_consume``)."""

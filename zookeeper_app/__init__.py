"""The ZooKeeper labs: a model of a ZooKeeper 3.8 ensemble and its clients (``model``), the
built-in scenarios, what their page shows (``frames`` and ``templates/zookeeper``), and the
``LabKind`` that registers them with the platform (``kind``)."""

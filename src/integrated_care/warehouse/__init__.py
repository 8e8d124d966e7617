"""The warehouse domain: the input layer's schema, `ics check`, `ics load` and Ibis connections.

- :mod:`~integrated_care.warehouse.schema`: every input-layer table (``TABLES``, ``arrow_schema``)
- :mod:`~integrated_care.warehouse.check`: ``check(folder) -> CheckReport``
- :mod:`~integrated_care.warehouse.load`: ``load(folder, settings) -> LoadResult``
- :mod:`~integrated_care.warehouse.connection`: ``connect(settings) -> ibis backend``
- :mod:`~integrated_care.warehouse.fhir`: ``import_fhir(export, out)``
"""

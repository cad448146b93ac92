"""Scale-out onto Redis Streams (DESIGN.md "Scale-out"): the run's owner enqueues jobs and stores
their results (:mod:`archive.cluster.owner`, :mod:`archive.cluster.ingest`); ``memoryhole
worker`` processes fetch them and write their own WARC files (:mod:`archive.cluster.sink`).

Promises: jobs and results are JSON, never pickle (:mod:`archive.cluster.codec`); only the owner
(the holder of the run lock) writes the catalogue and the index; a job is acknowledged only after
its results are committed, and a job done twice is stored once (the ``cluster_jobs`` table); a
job delivered ``max_deliveries`` times unfinished goes to the dead-letter stream; a Redis URL is
shown only without its password. Nothing here is imported without ``[cluster] redis``.

May import: everything of ``archive`` listed before it (root modules, warc, text, platforms,
detect, config, catalogue, writer), and ``redis``.
"""

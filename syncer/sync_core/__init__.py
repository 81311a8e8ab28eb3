"""What the sync engines (FSM <-> Books/Invoice in ``syncer.books_sync``, FSM <-> CRM) share:
the run context and run-level outcomes, writes of unknown outcome and write-ahead intents, batched
FSM writers, failure logs, the lock keeper, and the ``Engine`` protocol with its registry
(``engine.py``) that the service, scheduler and API dispatch through by ``Integration.kind``.

Kept free of imports here: the store imports ``failures`` and ``lock`` from this package.
"""

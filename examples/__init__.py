"""Small multiprocessing programs to run under ``mptop run``, and the programs of the run-based lessons.

Installed with mptop as ``mptop.examples``: ``python -m mptop.examples.pool_order`` runs one,
and ``mptop --scenario pool-order`` runs it with its lesson. Standard library only.
"""

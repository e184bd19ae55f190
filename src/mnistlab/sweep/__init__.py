"""Optuna sweeps: the search space, the worker loop over a shared study storage, and the results table."""

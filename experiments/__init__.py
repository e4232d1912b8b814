"""The paper experiments (issue 12): one module per claim, each runnable as a script."""

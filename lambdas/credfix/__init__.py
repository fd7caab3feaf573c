"""credfix: find and fix the workloads that sign AWS requests with credentials AWS no longer recognises."""

__version__ = "0.1.0"

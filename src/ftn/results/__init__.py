"""Tables from run records: ``records`` (loading, devices, cells), ``stats`` (paired t and its exact p), one
builder per table (``table1``, ``table2``, ``table4``, ``zoo``, ``headline``), ``readme`` (the READMEs' result blocks)
and ``cli`` (``python -m ftn.results``)."""
from .cli import BUILDERS, EXPERIMENTS, collect, main, table_records, write_table
from .labels import HEADLINE_INIT, changed_hyperparameters, describe, error_percent, is_headline, row_scan
from .markdown import RUNS_HEADING, provenance, slot
from .records import DATASET_LABELS, RUNS_DIRS, cells, device, load_runs, trained_on
from .stats import Paired, mean_std, paired, seeds, two_sided_p
from .table1 import table1
from .table2 import table2
from .table4 import table4
from .zoo import pooling_zoo

__all__ = ["BUILDERS", "DATASET_LABELS", "EXPERIMENTS", "HEADLINE_INIT", "RUNS_DIRS", "RUNS_HEADING", "Paired",
           "cells", "changed_hyperparameters", "collect", "describe", "device", "error_percent", "is_headline",
           "load_runs", "main", "mean_std", "paired", "pooling_zoo", "provenance", "row_scan", "seeds", "slot",
           "table1", "table2", "table4", "table_records", "trained_on", "two_sided_p", "write_table"]

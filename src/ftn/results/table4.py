"""Table 4: VGG16 on CIFAR-10 and CIFAR-100."""
from __future__ import annotations

from collections import defaultdict

from .labels import error_percent
from .markdown import provenance, slot
from .paper import TABLE4_ERROR
from .records import DATASET_LABELS, device


def table4(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:  # cells never mix devices (see device())
        c = r["config"]
        groups[(c["dataset"]["name"], c["pooling"]["kind"], c["schedule"]["max_steps"], device(r))].append(r)
    lines = ["# Table 4: VGG16, test error (%)", "", "| dataset | pooling | iterations | device | paper | ours |",
             "|---|---|---|---|---|---|"]
    for (dataset, pooling, steps, where), runs in sorted(groups.items()):
        paper = TABLE4_ERROR.get((dataset, pooling))
        lines.append(f"| {DATASET_LABELS.get(dataset, dataset)} | {pooling} | {steps} | {where} | "
                     f"{paper if paper is not None else '— (not reported)'} | {slot(runs, error_percent)} |")
    describe = lambda r: f"{r['config']['dataset']['name']} {r['config']['pooling']['kind']}"
    return lines + provenance(records, describe)

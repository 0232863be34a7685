"""Table 4: VGG16 on CIFAR-10 and CIFAR-100."""
from __future__ import annotations

from collections import defaultdict

from .labels import error_percent
from .markdown import provenance, slot
from .records import DATASET_LABELS, device

# The paper's Table 4, test error in %.
PAPER_TABLE4 = {("cifar10", "lstm"): 5.79, ("cifar100", "lstm"): 26.89}


def table4(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:  # cells never mix devices (see device())
        c = r["config"]
        groups[(c["dataset"]["name"], c["pooling"]["kind"], c["schedule"]["max_steps"], device(r))].append(r)
    lines = ["# Table 4: VGG16, test error (%)", "", "| dataset | pooling | iterations | device | paper | ours |",
             "|---|---|---|---|---|---|"]
    for (dataset, pooling, steps, where), runs in sorted(groups.items()):
        paper = PAPER_TABLE4.get((dataset, pooling))
        lines.append(f"| {DATASET_LABELS.get(dataset, dataset)} | {pooling} | {steps} | {where} | "
                     f"{paper if paper is not None else '— (not reported)'} | {slot(runs, error_percent)} |")
    describe = lambda r: f"{r['config']['dataset']['name']} {r['config']['pooling']['kind']}"
    return lines + provenance(records, describe)

"""Table 4: VGG16 on CIFAR-10 and CIFAR-100, with each LSTM cell's paired difference to max pooling."""
from __future__ import annotations

from collections import defaultdict

from .labels import error_percent
from .markdown import provenance, slot
from .paper import PAPER_ITERATIONS, table4_error
from .records import DATASET_LABELS, device
from .table2 import error_difference


def table4(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:  # cells never mix devices (see device())
        c = r["config"]
        groups[(c["dataset"]["name"], c["pooling"]["kind"], c["schedule"]["max_steps"], device(r))].append(r)
    lines = ["# Table 4: VGG16, test error (%)", "",
             f"Paper: the paper's Table 4 (genuine CIFAR-10 and CIFAR-100, {PAPER_ITERATIONS} iterations). Ours: mean "
             "± std over seeds at each row's iterations, and each lstm cell's paired difference to max pooling.", "",
             "| dataset | pooling | iterations | device | paper | ours | minus max, seed by seed |",
             "|---|---|---|---|---|---|---|"]
    for (dataset, pooling, steps, where), runs in sorted(groups.items()):
        paper = table4_error(dataset, pooling)
        if paper is None:
            paper = "— (not reported)"
        elif steps < PAPER_ITERATIONS:
            paper = f"{paper} (at {PAPER_ITERATIONS})"
        baseline = groups.get((dataset, "max", steps, where))
        gap = str(error_difference(runs, baseline)) if baseline and pooling != "max" else "—"
        lines.append(f"| {DATASET_LABELS.get(dataset, dataset)} | {pooling} | {steps} | {where} | {paper} | "
                     f"{slot(runs, error_percent)} | {gap} |")
    if any(steps < PAPER_ITERATIONS for _, _, steps, _ in groups):
        lines += ["", f"Rows under {PAPER_ITERATIONS} iterations are the paper's schedule cut short (its learning "
                  "rate is constant until 50k): the paper gives no error there (its figure 5(b) draws the first 20 "
                  "epochs), so its final error is beside them for reference only, not as a target. "
                  "`fig5_vgg16_test_error.png` draws their curves, epoch by epoch."]
    describe = lambda r: f"{r['config']['dataset']['name']} {r['config']['pooling']['kind']}"
    return lines + provenance(records, describe)

"""The claim rules of ``ftn.results.claims`` on fabricated records: one test per verdict kind, the proposition in
both implementations, the VGG16 findings with and without a Table 4 record, the paper's numbers and the table's
shape."""
import pytest
import torch

from ftn.pooling import lstm_scan
from ftn.results import paper
from ftn.results.claims import CLAIMS
from ftn.results.claims_text import claims, evidence, verdict as verdict_cell
from ftn.results.findings import Finding, Verdict

BY_NUMBER = {c.number: c for c in CLAIMS}
SUPPORTED, NOT_SUPPORTED, CONTRADICTED, MIXED, NOT_YET_TESTED = Verdict


def run(kind: str, seed: int, error: float, width: int = 8, accelerator: str = "cpu", scan: str = "row",
        history: list[float] | None = None) -> dict:
    """A finished Table 2 record: ``error`` in %, ``history`` the test error (%) after each validation."""
    pooling = {"kind": kind, **({"init": "avg_soft", "scan": scan} if kind.startswith("lstm") else {})}
    config = {"seed": seed, "dataset": {"name": "cifar10_jpeg"}, "schedule": {"max_steps": 15000},
              "model": {"width": width}, "pooling": pooling, "trainer": {"accelerator": accelerator}}
    return {"experiment": "table2", "status": "finished", "seed": seed, "config": config, "device": accelerator,
            "metrics": {"final_test/error": error / 100},
            "history": [{"epoch": i, "test/error": e / 100} for i, e in enumerate(history or [])]}


def vgg16_run(kind: str, seed: int, error: float, history: list[float] | None = None) -> dict:
    """A finished Table 4 record (VGG16 on CIFAR-10, on the GPU)."""
    record = run(kind, seed, error, accelerator="gpu", history=history)
    record["config"]["dataset"]["name"], record["config"]["schedule"]["max_steps"] = "cifar10", 20000
    record["config"]["model"] = {"_target_": "ftn.models.VGG16"}
    return {**record, "experiment": "table4"}


def with_units(record: dict, layers: int, total: int) -> dict:
    """``record`` with its parameter counts and one learned unit per pooling layer (all of one shared unit for
    lstm_shared, logged per layer as the runs do)."""
    kind = record["config"]["pooling"]["kind"]
    units = {f"lstm/features.{layer}/{c}_{g}": 0.1 for layer in range(layers) for g in "ifog" for c in "wrb"}
    return {**record, "params_lstm": 12 * (1 if kind == "lstm_shared" else layers), "params_total": total,
            "metrics": {**record["metrics"], **units}}


def overall(findings: list[Finding]) -> Verdict:
    return Verdict.overall(f.verdict for f in findings)


def verdict(number: int, records: list[dict]) -> Verdict:
    return overall(BY_NUMBER[number].rule(records))


NOISE = (0.3, -0.2, 0.1, -0.4, 0.2)


def cells(**means: float) -> list[dict]:
    """Five seeds per pooling kind at the given mean error, with small seed-to-seed noise."""
    return [run(kind, s, mean + NOISE[s]) for kind, mean in means.items() for s in range(5)]


def test_supported_when_every_comparison_has_the_claimed_sign_at_p_below_005():
    assert verdict(9, cells(lstm=50, lstm_shared=55)) is SUPPORTED
    assert verdict(7, cells(lstm=50, lstm_shared=51, max=60, avg=61)) is SUPPORTED


def test_contradicted_when_the_opposite_holds_at_p_below_005():
    assert verdict(9, cells(lstm=55, lstm_shared=50)) is CONTRADICTED


def test_not_supported_when_no_difference_is_detectable():
    records = [run("lstm", s, 50 + (-3, 3, -2, 2, 0)[s]) for s in range(5)]
    records += [run("lstm_shared", s, 50 + (2, -2, 3, -3, 0)[s]) for s in range(5)]
    assert verdict(9, records) is NOT_SUPPORTED


def test_mixed_when_settings_disagree_and_the_row_says_which():
    records = cells(lstm=50, lstm_shared=55) + [
        run(kind, s, mean + NOISE[s], width=16) for kind, mean in (("lstm", 55), ("lstm_shared", 50)) for s in range(5)]
    findings = BY_NUMBER[9].rule(records)
    assert overall(findings) is MIXED
    assert {(f.network.name, f.verdict) for f in findings} == {("Conv 8", SUPPORTED), ("Conv 16", CONTRADICTED)}
    assert "**CIFAR-10 (JPEG copy), 15000 it, CPU, Conv 16, 5 seeds**: contradicted." in evidence(findings)


def test_not_yet_tested_without_records_and_with_too_few_seeds():
    assert verdict(15, []) is NOT_YET_TESTED and verdict(13, []) is NOT_YET_TESTED
    two_seeds = [r for r in cells(lstm=50, lstm_shared=55) if r["seed"] < 2]
    assert verdict(9, two_seeds) is NOT_YET_TESTED  # fewer than 3 pairs test nothing
    # two widths, but on different devices: a rule compares widths on one device and one budget only
    on_two_devices = cells(lstm=50, max=60) + [run(k, s, m + NOISE[s], width=16, accelerator="gpu")
                                               for k, m in (("lstm", 40), ("max", 45)) for s in range(5)]
    assert verdict(8, on_two_devices) is NOT_YET_TESTED


def test_the_gain_shrinking_with_width_compares_widths_of_one_setting():
    small = cells(lstm=50, max=60)
    assert verdict(8, small + [run(k, s, m + NOISE[s], width=32) for k, m in (("lstm", 40), ("max", 42))
                               for s in range(5)]) is SUPPORTED
    assert verdict(8, small + [run(k, s, m + NOISE[s], width=32) for k, m in (("lstm", 30), ("max", 50))
                               for s in range(5)]) is CONTRADICTED
    # each small network against each large one: Conv 16's gain above Conv 32's and Conv 8's not is mixed, and the
    # evidence shows every width's gain beside the paper's
    widths = lambda gains: [run(k, s, m + NOISE[s], width=w) for w, gain in gains.items()
                            for k, m in (("lstm", 40), ("max", 40 + gain)) for s in range(5)]
    findings = BY_NUMBER[8].rule(widths({8: 2, 16: 10, 32: 2}))
    assert [(small, large, v) for small, large, _, v in findings[0].tests] == [(8, 32, NOT_SUPPORTED),
                                                                                (16, 32, SUPPORTED)]
    assert overall(findings) is MIXED
    assert "Conv 16 +10.00 ± 0.00 (5 pairs; paper +7.03)" in evidence(findings)
    assert verdict(8, widths({8: 10, 16: 10, 32: 2, 64: 1})) is SUPPORTED
    # Conv 8 against Conv 16 alone tests nothing: the paper's own gain grows there
    assert verdict(8, small + [run(k, s, m + NOISE[s], width=16) for k, m in (("lstm", 40), ("max", 42))
                               for s in range(5)]) is NOT_YET_TESTED
    # two large networks are no small one against a large one
    large = [run(k, s, m + NOISE[s], width=w) for w, m in ((32, 40), (64, 30)) for k in ("lstm", "max")
             for s in range(5)]
    assert verdict(8, large) is NOT_YET_TESTED
    # a large network with too few seeds waits, and the evidence shows its gain per pair so far
    one_seed = BY_NUMBER[8].rule(small + [run("lstm", 0, 40, width=32), run("max", 0, 45, width=32)])
    assert overall(one_seed) is NOT_YET_TESTED
    assert "Conv 32 (CIFAR-10 (JPEG copy), 15000 it, CPU) +5.00 (1 pair)" in evidence(one_seed)
    assert "Conv 8 (CIFAR-10 (JPEG copy), 15000 it, CPU) +10.00 ± 0.00 (5 pairs" in evidence(one_seed)


def test_the_zoo_rivals_are_read_against_table2s_lstm_and_wait_until_each_has_its_seeds():
    rivals = ("leap", "stochastic", "rank", "mixed", "tree")
    zoo = lambda means, n=5: [{**run(kind, s, mean + NOISE[s], width=16), "experiment": "zoo"}
                              for kind, mean in means.items() for s in range(n)]
    lstm = [run("lstm", s, 40 + NOISE[s], width=16) for s in range(5)]
    assert verdict(17, lstm + zoo({k: 50 for k in rivals})) is SUPPORTED
    assert verdict(17, lstm + zoo({k: 50 for k in rivals if k != "tree"}) + zoo({"tree": 30})) is MIXED
    assert verdict(17, lstm + zoo({k: 30 for k in rivals})) is CONTRADICTED
    # one rival with two seeds: what is compared so far shows, and the rival is named as waiting
    findings = BY_NUMBER[17].rule(lstm + zoo({k: 50 for k in rivals if k != "rank"}) + zoo({"rank": 50}, n=2))
    assert overall(findings) is NOT_YET_TESTED
    written = evidence(findings)
    assert "lstm − mixed" in written and "waiting for 3 pairs: lstm − rank -10.00 ± 0.00 (2 pairs" in written
    assert verdict(9, lstm + zoo({"lstm_shared": 50})) is NOT_YET_TESTED  # Table 2's claims read Table 2's runs only


def test_scan_order_needs_equivalence_within_a_point_and_a_difference_contradicts_it():
    rows = [run("lstm", s, 50 + NOISE[s]) for s in range(5)]
    level = [run("lstm", s, 50 + NOISE[(s + 2) % 5], scan="snake") for s in range(5)]
    noisy = [run("lstm", s, 50 + (3, -3, 2, -2, 0)[s], scan="snake") for s in range(5)]
    worse = [run("lstm", s, 55 + NOISE[s], scan="column") for s in range(5)]
    assert verdict(1, rows + level) is SUPPORTED
    assert verdict(1, rows + noisy) is NOT_SUPPORTED  # no difference detected, but none excluded either
    assert verdict(1, rows + worse) is CONTRADICTED
    # a significant difference inside the ±1 point margin is equivalence, not a contradiction
    close = [run("lstm", s, 50.3 + NOISE[s], scan="column") for s in range(5)]
    assert verdict(1, rows + close) is SUPPORTED


def test_convergence_pairs_each_seeds_curve_with_max():
    fast = [run("lstm", s, 50, history=[70 - 2 * i for i in range(10)] + [50] * 10) for s in range(5)]
    slow = [run("max", s, 50 + NOISE[s], history=[90 - 2 * i + NOISE[s] for i in range(20)]) for s in range(5)]
    findings = BY_NUMBER[14].rule(fast + slow)
    assert findings[0].verdict is SUPPORTED and findings[-1].verdict is NOT_YET_TESTED  # VGG16: no record
    assert evidence(findings[-1:]) == "**VGG16**: not yet tested. no Table 4 run yet: `make table4 SCHEDULE=paper DATASET=cifar10 DEVICE=gpu`"


def test_convergence_reads_vgg16s_curves_once_a_table4_record_exists():
    fast = [vgg16_run("lstm", s, 6, history=[40 - 2 * i for i in range(10)] + [6] * 10) for s in range(3)]
    slow = [vgg16_run("max", s, 7 + NOISE[s], history=[60 - 2 * i + NOISE[s] for i in range(20)]) for s in range(3)]
    findings = BY_NUMBER[14].rule(fast + slow)
    assert [(f.network.name, f.verdict) for f in findings] == [("VGG16", SUPPORTED)]
    assert evidence(findings).startswith("**CIFAR-10, 20000 it, GPU, VGG16, 3 seeds, a validation every 1000 it**:")


def test_convergence_reads_a_short_vgg16_run_where_its_curves_reach_and_waits_for_seeds():
    # 6 validations (the CPU's first 6 epochs): read after 5, not 10; one seed shows its gap but judges nothing
    findings = BY_NUMBER[14].rule([vgg16_run("lstm", 0, 30, history=[50, 45, 40, 35, 30, 30]),
                                   vgg16_run("max", 0, 32, history=[60, 50, 44, 38, 34, 32])])
    assert [(f.network.name, f.verdict, [n for n, _ in f.measures]) for f in findings] == [("VGG16", NOT_YET_TESTED,
                                                                                           [5])]
    assert evidence(findings).endswith("error after 5 validations: lstm − max -4.00 (1 pair); a verdict needs 3 seeds")


@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_the_proposition_a_unit_with_nonpositive_w_g_and_zero_b_g_never_moves(impl):
    # ReLU modulation, non-negative inputs, w_g <= 0, b_g = 0: g = relu(w_g x + r_g h) = 0 from h = 0 on, so the
    # output and every gradient are exactly zero; a positive b_g makes both nonzero
    x = torch.rand(16, 32, dtype=torch.float64) * 5
    for w_g, b_g, dead in ((-0.7, 0.0, True), (0.0, 0.0, True), (-0.7, 0.3, False)):
        params = torch.randn(4, 3, dtype=torch.float64)
        params[3] = torch.tensor([w_g, 0.9, b_g])
        params.requires_grad_(True)
        inputs = x.clone().requires_grad_(True)
        h = lstm_scan(inputs, params, 0.0, impl=impl)
        h.sum().backward()
        values = (h.abs().max(), params.grad.abs().max(), inputs.grad.abs().max())
        assert all((v == 0) if dead else (v > 0) for v in values), (w_g, b_g, values)
    assert overall(BY_NUMBER[2].rule([])) is SUPPORTED


def test_a_network_is_one_verdict_of_many_checks_and_a_claim_the_common_verdict_of_its_tested_findings():
    assert Verdict.share([True, True]) is SUPPORTED and Verdict.share([False]) is NOT_SUPPORTED
    assert Verdict.share([True, False, True]) is MIXED
    assert Verdict.holds(True) is SUPPORTED and Verdict.holds(False) is NOT_SUPPORTED
    assert Verdict.common([CONTRADICTED, CONTRADICTED]) is CONTRADICTED
    assert Verdict.common([SUPPORTED, NOT_SUPPORTED]) is MIXED and Verdict.common([]) is NOT_YET_TESTED
    # a claim: what tests nothing is left out, and nothing tested leaves it not yet tested
    assert Verdict.overall([SUPPORTED, NOT_YET_TESTED]) is SUPPORTED
    assert Verdict.overall([SUPPORTED, NOT_YET_TESTED, CONTRADICTED]) is MIXED
    assert Verdict.overall([NOT_YET_TESTED, NOT_YET_TESTED]) is NOT_YET_TESTED


def bench(device: str, ftn_b1: float) -> dict:
    """A Table 3 benchmark record: Conv 64, the FTN's batch-1 training step ``ftn_b1`` times the CNN's."""
    times = {"CNN": {"train b1": 1.0, "train b100": 10.0}, "FTN": {"train b1": ftn_b1, "train b100": 12.0}}
    return {"experiment": "table3", "device": device, "seconds_per_batch": {"Conv 64": times}, "hardware": device,
            "torch": "2", "command": "python scripts/bench_table3.py", "commit": "abc"}


def test_the_step_cost_judged_on_a_cpu_waits_for_the_papers_device_and_the_verdict_says_a_part_waits():
    on_cpu = BY_NUMBER[13].rule([bench("cpu", 1.3)])
    assert [f.verdict for f in on_cpu] == [NOT_SUPPORTED, NOT_YET_TESTED]
    assert "no Table 3 record on a GPU yet" in evidence(on_cpu)
    assert verdict_cell(on_cpu) == "**not supported** (a part not yet tested)"
    with_gpu = BY_NUMBER[13].rule([bench("cpu", 1.3), bench("cuda", 2.5)])
    assert [f.verdict for f in with_gpu] == [NOT_SUPPORTED, SUPPORTED] and verdict_cell(with_gpu) == "**mixed**"
    assert verdict_cell(BY_NUMBER[13].rule([])) == "**not yet tested**"


def test_claim_15_lets_a_run_shorter_than_the_papers_reach_its_vgg16_error_but_never_miss_it():
    six_epochs = [vgg16_run("lstm", s, 30.0) for s in range(2)]
    for r in six_epochs:
        r["config"]["schedule"]["max_steps"] = 3000
    findings = BY_NUMBER[15].rule(six_epochs)
    assert [f.verdict for f in findings] == [NOT_YET_TESTED]
    assert "30.00 % against the paper's 5.79" in evidence(findings)
    assert "the paper's is at 122000 it, so a shorter run can only reach it, not miss it" in evidence(findings)
    for r in six_epochs:
        r["config"]["schedule"]["max_steps"] = 122000
    assert verdict(15, six_epochs) is NOT_SUPPORTED  # at the paper's length, missing it counts
    assert verdict(15, [vgg16_run("lstm", 0, 6.0)]) is SUPPORTED  # 20000 it: reached early


def test_claim_16_judges_vgg16_once_a_table4_record_exists_and_says_it_has_none_before():
    conv8 = [with_units(run(kind, s, 50), 2, 2266) for kind in ("lstm", "lstm_shared") for s in range(3)]
    findings = BY_NUMBER[16].rule(conv8)
    assert [(f.network.name, f.pooling, f.verdict) for f in findings] == [("Conv 8", "lstm", SUPPORTED),
                                                                         ("Conv 8", "lstm_shared", SUPPORTED)]
    assert evidence(findings).count("The paper says it of VGG16: no record yet") == 2
    vgg16 = [with_units(vgg16_run("lstm", s, 6), 5, 15_000_000) for s in range(2)]
    findings = BY_NUMBER[16].rule(conv8 + vgg16)
    assert [(f.network.name, f.verdict) for f in findings][-1] == ("VGG16", SUPPORTED)
    assert "no record yet" not in evidence(findings)
    assert ("**VGG16 lstm (CIFAR-10, 20000 it, GPU)**: supported. 60 LSTM parameters for 5 unit(s) (12 each: True); "
            "one unit is 8e-05 % of the network's 15000000") in evidence(findings)
    # a unit more than the paper's 12 parameters is no longer the paper's claim
    assert verdict(16, [{**vgg16[0], "params_lstm": 61}]) is NOT_SUPPORTED


def test_the_papers_numbers_are_the_papers():
    # Typed from the paper, apart from src/ftn/results/paper.py: a changed digit there fails here.
    assert paper.TABLE1_MAE == {4: (8.97, 8.91, 9.19), 9: (4.42, 4.39, 4.40), 16: (5.41, 5.28, 5.32)}
    assert paper.TABLE1_SIZES == (2, 3, 4) and paper.TABLE1_BOUND == 10.0  # "smaller than 10^-4", in 1e-5
    # the test sets the records' metrics are named after are the ones the data module generates
    from ftn.data.sequences import TEST_ZERO_FRACTIONS
    assert paper.TABLE1_TEST_SETS == tuple(TEST_ZERO_FRACTIONS) == ("T1", "T2", "T3")
    assert {w: tuple(e[p] for p in ("max", "avg", "lstm_shared", "lstm")) for w, e in paper.TABLE2_ERROR.items()} == {
        8: (57.44, 56.18, 50.96, 50.52), 16: (32.75, 32.86, 28.58, 25.72), 32: (18.77, 20.82, 16.11, 15.48),
        64: (13.27, 14.75, 12.04, 11.83)}
    assert paper.TABLE2_POOLINGS == ("max", "avg", "lstm_shared", "lstm")
    assert (paper.SMALL_WIDTHS, paper.LARGE_WIDTHS) == ((8, 16), (32, 64))
    assert paper.MAX_LOCATIONS == {8: ("mean", 4), 16: ("mean", 6), 64: ("all", 0.5)} and paper.WINDOW_LOCATIONS == 16
    assert paper.TABLE3_SECONDS == {"CNN": (0.013, 0.021, 0.0027, 0.0037), "FTN": (0.033, 0.035, 0.0068, 0.0076)}
    assert [round(r, 2) for r in paper.table3_ratios().values()] == [2.54, 1.67, 2.52, 2.05]
    assert paper.TRAINING_COST == (2, 3) and paper.UNIT_PARAMETERS == 12
    assert paper.TABLE4_ERROR == {("cifar10", "lstm"): 5.79, ("cifar100", "lstm"): 26.89}
    assert paper.PAPER_ITERATIONS == 122_000
    assert paper.TABLE4_POOLING_RIVALS == ("leap", "stochastic", "rank", "mixed", "tree")


def test_the_claims_quote_and_the_rules_read_the_papers_numbers_from_one_module(monkeypatch):
    page = "\n".join(claims([]))
    for quoted in ("MAE < 1e-4 at 2x2, 3x3 and 4x4",
                   "of a window's 16 locations, more than 4 in Conv 8, more than 6 in Conv 16",
                   "(Conv 8: avg 56.18 below max 57.44)", "about 2–3× a CNN's", "reaches 5.79 % test error",
                   "adds 12 parameters", "`make table2 WIDTHS=8,16,32,64`"):
        assert quoted in page
    records = [vgg16_run("lstm", s, 6.5) for s in range(2)]
    for r in records:  # the paper's length: a miss counts
        r["config"]["schedule"]["max_steps"] = 122000
    assert verdict(15, records) is SUPPORTED  # within a point of the paper's 5.79
    monkeypatch.setitem(paper.TABLE4_ERROR, ("cifar10", "lstm"), 5.0)
    assert verdict(15, records) is NOT_SUPPORTED
    monkeypatch.setattr(paper, "VGG_MARGIN", 2.0)
    assert verdict(15, records) is SUPPORTED


def test_the_table_has_every_claim_once_and_only_known_verdicts():
    lines = claims([])
    rows = [line for line in lines if line.startswith("| ") and line.split(" | ")[0][2:].isdigit()]
    assert [int(r.split(" | ")[0][2:]) for r in rows] == list(range(1, len(CLAIMS) + 1))
    assert all(r.rstrip(" |").rsplit("**", 2)[-2] in {v.value for v in Verdict} for r in rows)
    assert "issue" not in "\n".join(lines)  # the records and the history hold where a gap is tracked


def test_figure_readings_give_figure_3s_shares_and_where_figure_4s_units_lie():
    from ftn.results.figure_readings import figure_readings

    kept = {**run("max", 0, 60), "max_locations": {"patches": 4, "kernel_size": 4,
                                                    "histogram": [0, 0, 0, 0, 1, 1, 0, 2] + [0] * 9}}
    # layer 0: constant 100 (the gates open, the forget gate shut, g = ψ(b_g)): above max on every window;
    # layer 1: the window's last value (g = ψ(x)): never above max
    units = {}
    for layer, (w_g, b_g) in ((0, (0.0, 100.0)), (1, (1.0, 0.0))):
        values = {"b_i": 100.0, "b_f": -100.0, "b_o": 100.0, "w_g": w_g, "b_g": b_g}
        units |= {f"lstm/features.{layer}/{c}_{g}": values.get(f"{c}_{g}", 0.0) for g in "ifog" for c in "wrb"}
    lstm = run("lstm", 0, 50)
    lstm["config"]["model"] |= {"pool_sizes": (2, 2), "negative_slope": 0.0}
    lstm["metrics"] |= units
    text = "\n".join(figure_readings([kept, lstm]))
    # mean (4 + 5 + 2 * 7) / 4, most often 7, > 4: 3 of 4, > 6: 2 of 4, all 16: none
    assert "| Conv 8 | CIFAR-10 (JPEG copy), 15000 it, CPU | 0 | 5.75 | 7 | 75.0 | 50.0 | 0.0 |" in text
    assert "| features.0 (2x2) | 0 | 0.0 | 100.0 | 0.0 |" in text
    row = next(line for line in text.splitlines() if "features.1 (2x2)" in line)
    between, above, below = (float(v) for v in row.split("|")[5:8])
    assert above == 0.0 and between > 0 and below > 0 and between + below == 100.0


def test_a_network_the_claim_names_is_shown_waiting_until_it_has_its_seeds_or_its_measurement():
    one_seed = [run(k, 0, m, width=32) for k, m in (("lstm", 40), ("lstm_shared", 42))]
    findings = BY_NUMBER[9].rule(cells(lstm=50, lstm_shared=55) + one_seed)
    assert overall(findings) is SUPPORTED  # the tested network's verdict; Conv 32 waits beside it
    assert "**CIFAR-10 (JPEG copy), 15000 it, CPU, Conv 32, 1 seed**: not yet tested. waiting for 3 pairs: " \
           "lstm − lstm_shared -2.00 (1 pair)" in evidence(findings)
    measured = {**run("max", 0, 60), "max_locations": {"histogram": [0] * 5 + [1] + [0] * 11}}
    findings = BY_NUMBER[10].rule([measured])
    assert overall(findings) is SUPPORTED
    assert {"Conv 16", "Conv 64"} <= {f"Conv {f.width}" for f in findings if f.verdict is NOT_YET_TESTED}
    assert verdict_cell(findings) == "**supported** (a part not yet tested)"
    # max runs recorded before runs measured themselves are counted, not dropped silently
    findings = BY_NUMBER[10].rule([measured, run("max", 1, 61), run("lstm", 1, 55)])
    assert "1 seed**: supported. mean locations kept per seed 5.00 (claimed > 4); 1 more max run recorded" in evidence(
        findings)


def test_claim_11_reads_each_layers_correlation_with_avg_beside_the_untrained_init():
    from ftn.pooling import init_params

    def unit_metrics(layer: int, params: torch.Tensor) -> dict:
        return {f"lstm/features.{layer}/{c}_{g}": params[row, col].item()
                for row, g in enumerate("ifog") for col, c in enumerate("wrb")}

    last_value = torch.zeros(4, 3)  # the window's last value: gates open, forget shut, g = ψ(x)
    last_value[:, 2] = torch.tensor([100.0, -100.0, 100.0, 0.0])
    last_value[3, 0] = 1.0
    records = []
    for s in range(3):
        r = run("lstm", s, 50)
        r["config"]["model"] |= {"pool_sizes": (4, 8), "negative_slope": 0.0}
        r["metrics"] |= unit_metrics(6, init_params("avg_soft", 16)) | unit_metrics(13, last_value)
        records.append(r)
    findings = BY_NUMBER[11].rule(records)
    assert overall(findings) is SUPPORTED  # layer 1 an (untrained) weighted mean, layer 2 far from avg
    assert "the unit at its init, untrained: 0.98" in evidence(findings)
    records[0]["metrics"] |= unit_metrics(6, last_value)
    records[1]["metrics"] |= unit_metrics(6, last_value)
    assert overall(BY_NUMBER[11].rule(records)) is not SUPPORTED  # layer 1 no longer tracks avg

"""The claim rules of ``ftn.results.claims`` on fabricated records: one test per verdict kind, the proposition in
both implementations, and the table's shape."""
import pytest
import torch

from ftn.pooling import lstm_scan
from ftn.results.claims import CLAIMS, VERDICTS, Finding, claims, overall

BY_NUMBER = {c.number: c for c in CLAIMS}


def run(kind: str, seed: int, error: float, width: int = 8, accelerator: str = "cpu", scan: str = "row",
        history: list[float] | None = None) -> dict:
    """A finished Table 2 record: ``error`` in %, ``history`` the test error (%) after each validation."""
    pooling = {"kind": kind, **({"init": "avg_soft", "scan": scan} if kind.startswith("lstm") else {})}
    config = {"seed": seed, "dataset": {"name": "cifar10_jpeg"}, "schedule": {"max_steps": 15000},
              "model": {"width": width}, "pooling": pooling, "trainer": {"accelerator": accelerator}}
    return {"experiment": "table2", "status": "finished", "seed": seed, "config": config, "device": accelerator,
            "metrics": {"final_test/error": error / 100},
            "history": [{"epoch": i, "test/error": e / 100} for i, e in enumerate(history or [])]}


def verdict(number: int, records: list[dict]) -> str:
    return overall(BY_NUMBER[number].rule(records))


NOISE = (0.3, -0.2, 0.1, -0.4, 0.2)


def cells(**means: float) -> list[dict]:
    """Five seeds per pooling kind at the given mean error, with small seed-to-seed noise."""
    return [run(kind, s, mean + NOISE[s]) for kind, mean in means.items() for s in range(5)]


def test_supported_when_every_comparison_has_the_claimed_sign_at_p_below_005():
    assert verdict(9, cells(lstm=50, lstm_shared=55)) == "supported"
    assert verdict(7, cells(lstm=50, lstm_shared=51, max=60, avg=61)) == "supported"


def test_contradicted_when_the_opposite_holds_at_p_below_005():
    assert verdict(9, cells(lstm=55, lstm_shared=50)) == "contradicted"


def test_not_supported_when_no_difference_is_detectable():
    records = [run("lstm", s, 50 + (-3, 3, -2, 2, 0)[s]) for s in range(5)]
    records += [run("lstm_shared", s, 50 + (2, -2, 3, -3, 0)[s]) for s in range(5)]
    assert verdict(9, records) == "not supported"


def test_mixed_when_settings_disagree_and_the_row_says_which():
    records = cells(lstm=50, lstm_shared=55) + [
        run(kind, s, mean + NOISE[s], width=16) for kind, mean in (("lstm", 55), ("lstm_shared", 50)) for s in range(5)]
    findings = BY_NUMBER[9].rule(records)
    assert overall(findings) == "mixed"
    assert {(f.setting.split(", ")[-2], f.verdict) for f in findings} == {("Conv 8", "supported"),
                                                                        ("Conv 16", "contradicted")}


def test_not_yet_tested_without_records_and_with_too_few_seeds():
    assert verdict(15, []) == "not yet tested" and verdict(13, []) == "not yet tested"
    two_seeds = [r for r in cells(lstm=50, lstm_shared=55) if r["seed"] < 2]
    assert verdict(9, two_seeds) == "not yet tested"  # fewer than 3 pairs test nothing
    # two widths, but on different devices: a rule compares widths on one device and one budget only
    on_two_devices = cells(lstm=50, max=60) + [run(k, s, m + NOISE[s], width=16, accelerator="gpu")
                                               for k, m in (("lstm", 40), ("max", 45)) for s in range(5)]
    assert verdict(8, on_two_devices) == "not yet tested"


def test_the_gain_shrinking_with_width_compares_widths_of_one_setting():
    small = cells(lstm=50, max=60)
    assert verdict(8, small + [run(k, s, m + NOISE[s], width=32) for k, m in (("lstm", 40), ("max", 42))
                               for s in range(5)]) == "supported"
    assert verdict(8, small + [run(k, s, m + NOISE[s], width=32) for k, m in (("lstm", 30), ("max", 50))
                               for s in range(5)]) == "contradicted"
    # Conv 8 against Conv 16 alone tests nothing: the paper's own gain grows there
    assert verdict(8, small + [run(k, s, m + NOISE[s], width=16) for k, m in (("lstm", 40), ("max", 42))
                               for s in range(5)]) == "not yet tested"


def test_the_zoo_rivals_are_read_against_table2s_lstm_and_wait_until_each_has_its_seeds():
    rivals = ("leap", "stochastic", "rank", "mixed", "tree")
    zoo = lambda means, n=5: [{**run(kind, s, mean + NOISE[s], width=16), "experiment": "zoo"}
                              for kind, mean in means.items() for s in range(n)]
    lstm = [run("lstm", s, 40 + NOISE[s], width=16) for s in range(5)]
    assert verdict(17, lstm + zoo({k: 50 for k in rivals})) == "supported"
    assert verdict(17, lstm + zoo({k: 50 for k in rivals if k != "tree"}) + zoo({"tree": 30})) == "mixed"
    assert verdict(17, lstm + zoo({k: 30 for k in rivals})) == "contradicted"
    # one rival with two seeds: what is compared so far shows, and the rival is named as waiting
    findings = BY_NUMBER[17].rule(lstm + zoo({k: 50 for k in rivals if k != "rank"}) + zoo({"rank": 50}, n=2))
    assert overall(findings) == "not yet tested"
    assert "lstm − mixed" in findings[0].evidence and "waiting for 3 pairs: lstm − rank (2 pairs)" in findings[0].evidence
    assert verdict(9, lstm + zoo({"lstm_shared": 50})) == "not yet tested"  # Table 2's claims read Table 2's runs only


def test_scan_order_needs_equivalence_within_a_point_and_a_difference_contradicts_it():
    rows = [run("lstm", s, 50 + NOISE[s]) for s in range(5)]
    level = [run("lstm", s, 50 + NOISE[(s + 2) % 5], scan="snake") for s in range(5)]
    noisy = [run("lstm", s, 50 + (3, -3, 2, -2, 0)[s], scan="snake") for s in range(5)]
    worse = [run("lstm", s, 55 + NOISE[s], scan="column") for s in range(5)]
    assert verdict(1, rows + level) == "supported"
    assert verdict(1, rows + noisy) == "not supported"  # no difference detected, but none excluded either
    assert verdict(1, rows + worse) == "contradicted"


def test_convergence_pairs_each_seeds_curve_with_max():
    fast = [run("lstm", s, 50, history=[70 - 2 * i for i in range(10)] + [50] * 10) for s in range(5)]
    slow = [run("max", s, 50 + NOISE[s], history=[90 - 2 * i + NOISE[s] for i in range(20)]) for s in range(5)]
    findings = BY_NUMBER[14].rule(fast + slow)
    assert findings[0].verdict == "supported" and findings[-1].verdict == "not yet tested"  # VGG16: no record


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
    assert overall(BY_NUMBER[2].rule([])) == "supported"


def test_the_table_has_every_claim_once_and_only_known_verdicts():
    lines = claims([])
    rows = [line for line in lines if line.startswith("| ") and line.split(" | ")[0][2:].isdigit()]
    assert [int(r.split(" | ")[0][2:]) for r in rows] == list(range(1, len(CLAIMS) + 1))
    assert all(r.rstrip(" |").rsplit("**", 2)[-2] in VERDICTS for r in rows)
    assert overall([Finding("a", "supported", ""), Finding("b", "not yet tested", "")]) == "supported"

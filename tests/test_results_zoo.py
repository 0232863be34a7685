"""The pooling zoo's table from fabricated records: its cells, parameters added, paired differences and costs."""
from ftn.results import pooling_zoo


def record(experiment, kind, seed, error, params, train_error=None):
    config = {"dataset": {"name": "cifar10_jpeg"}, "schedule": {"max_steps": 15000}, "model": {"width": 16},
              "seed": seed, "pooling": {"kind": kind, **({"init": "avg_soft", "scan": "row"} if "lstm" in kind else {})}}
    return {"experiment": experiment, "status": "finished", "config": config, "metrics": {"final_test/error": error / 100,
                                                                       **({} if train_error is None else {"train/error": train_error / 100})},
            "seed": seed, "params_total": params, "device": "cpu", "command": "python -m ftn.train ...",
            "commit": "abc1234", "hardware": "test CPU", "wall_time_s": 60.0, "wandb_run_id": f"{kind}{seed}"}


def bench(ms_per_step, date):
    return {"experiment": "pooling_cost", "status": "finished", "ms_per_step": ms_per_step, "date": date,
            "width": 16, "batch": 100, "threads": 1, "layout": "channels_last", "repeats": 5, "hardware": "test CPU",
            "commit": "abc1234", "command": "python scripts/bench_zoo.py"}


def test_zoo_table_pairs_each_kind_with_max_and_lstm_and_gives_its_cost():
    runs = [record("table2", "max", s, e, 1000) for s, e in enumerate([48.0, 47.0, 47.5])]
    runs += [record("table2", "lstm", s, e, 1024) for s, e in enumerate([37.0, 38.0, 36.0])]
    runs += [record("zoo", "softpool", s, e, 1000) for s, e in enumerate([46.0, 46.0, 46.5])]
    runs += [record("zoo", "leap", s, e, 1320) for s, e in enumerate([45.0, 44.0])]
    runs += [record("table2", "max", 0, 10.0, 1000) | {"device": "cuda"}]  # another device: no cell here
    old, new = bench({"max": 100.0, "softpool": 300.0}, "2026-01-01"), bench({"max": 100.0, "softpool": 120.0,
                                                                               "leap": 90.0}, "2026-02-01")
    text = "\n".join(pooling_zoo([*runs, old, new]))
    assert "## Conv 16, CIFAR-10 (JPEG copy), 15000 iterations, CPU" in text and "GPU" not in text.split("## Runs")[0]
    assert "| max | +0 | 3 | 47.50 ± 0.50 (3 seeds) | s0 48.00, s1 47.00, s2 47.50 | — |" in text
    # 3 pairs to max: -2.0, -1.0, -1.0; to lstm: +9, +8, +10.5; the newest benchmark's cost
    assert ("| softpool | +0 | 3 | 46.17 ± 0.29 (3 seeds) | s0 46.00, s1 46.00, s2 46.50 "
            "| -1.33 ± 0.58 (3 pairs, t = -4.0, p = 0.057) | +9.17 ± 1.26 (3 pairs, t = +12.6, p = 0.0062) | 1.20 |") in text
    assert "| leap | +320 | 2 | 44.50 ± 0.71 (2 seeds) |" in text and text.count("| 0.90 |") == 1
    assert "| lstm avg_soft | +24 | 3 |" in text
    assert text.index("| max |") < text.index("| lstm avg_soft |") < text.index("| leap |") < text.index("| softpool |")
    assert "in the channels_last layout (the harness's), relative to max pooling's 100.0 ms" in text


def test_zoo_table_says_when_no_cost_was_measured():
    runs = [record("table2", "max", 0, 48.0, 1000), record("zoo", "rank", 0, 47.0, 1000)]
    text = "\n".join(pooling_zoo(runs))
    assert "Cost per step: not measured yet" in text and "| rank | +0 | 1 | 47.00 (1 seed) | s0 47.00 | -1.00 (1 pair) | — | — |" in text


def test_zoo_figure_draws_error_against_cost_and_the_curves(tmp_path):
    from ftn.figures import plot_pooling_zoo

    runs = [record("table2", "max", s, e, 1000) for s, e in enumerate([48.0, 47.0])]
    runs += [record("zoo", "softpool", s, e, 1000) for s, e in enumerate([46.0, 46.5])]
    for r in runs:
        r["history"] = [{"epoch": e, "test/error": 0.6 - 0.01 * e} for e in range(3)]
    path = plot_pooling_zoo([*runs, bench({"max": 100.0, "softpool": 120.0}, "2026-02-01")], tmp_path / "zoo.png")
    assert path.stat().st_size > 10_000
    assert plot_pooling_zoo(runs[:2], tmp_path / "none.png") is None  # no zoo run: no figure


def test_zoo_reading_sorts_every_cell_read_at_three_seeds_against_lstm_and_max():
    trio = lambda experiment, kind, errors, params, train=None: [
        record(experiment, kind, s, e, params, train) for s, e in enumerate(errors)]
    runs = [*trio("table2", "max", [48.0, 47.0, 47.5], 1000, 54.5), *trio("table2", "lstm", [37.0, 38.0, 36.0], 1024),
            *trio("zoo", "leap", [37.5, 37.8, 36.2], 1320),      # lstm + (0.5, -0.2, 0.2): a tie, shown within ±1
            *trio("zoo", "tree", [45.0, 46.0, 44.5], 1240),      # lstm + (8, 8, 8.5): lstm has lower error
            *trio("zoo", "mixed", [64.0, 65.0, 64.5], 1000, 69.0),       # worse than max, and trains worse
            *trio("zoo", "stochastic", [60.0, 61.0, 60.5], 1000, 50.0),  # worse than max, trains no worse
            record("zoo", "softpool", 0, 46.0, 1000)]
    text = "\n".join(pooling_zoo(runs))
    reading = text.split("### What the seeds show")[1].split("## Runs")[0]
    against_lstm, against_max = (line for line in reading.splitlines() if line.startswith("- **Against"))
    assert "Holm's correction for the 9 comparisons" in reading  # 5 against each baseline, lstm vs max counted once
    assert "No difference detected: leap (+0.17, p = 0.5)." in against_lstm
    assert "Shown within ±1 point: leap." in against_lstm and "Higher error: " in against_lstm
    assert "tree (+8.17" in against_lstm.split("Higher error: ")[1] and "Lower error: none" not in against_lstm
    assert "lower error: none." in against_lstm
    assert against_max.split("lower error: ")[1].startswith("lstm avg_soft (-10.50, p = 0.0052†), leap (-10.33")
    assert ("Of the 2 other kinds with learned parameters read so far, lstm avg_soft has lower error than 1 (tree); "
            "no difference is detected from 1 (leap); it has higher error than none.") in reading
    assert "against max's 54.5%: " in reading
    assert "mixed 69.0%, above max's too: it fits the training set worse, not only the test set" in reading
    assert "stochastic 50.0%, not above max's: the gap opens at test time" in reading
    assert ("- **Not read yet** (fewer than 3 seeds paired): softpool (1 seed), lp (no run yet), maxavg (no run yet), "
            "gated (no run yet), rank (no run yet), lip (no run yet), strided_conv (no run yet), gru (no run yet).") \
        in reading
    assert "leap (+0.17, p = 0.5)" in reading and "leap (+0.17, p = 0.54†)" not in reading


def test_every_pooling_kind_is_drawn_in_a_style_of_its_own():
    from ftn.figures import kind_style
    from ftn.pooling.factory import KINDS

    styles = {(kind_style(k)["color"], kind_style(k)["linestyle"]) for k in KINDS}
    assert len(styles) == len(KINDS)


def test_another_reading_of_a_kind_is_drawn_in_its_kinds_colour_but_another_line():
    from ftn.figures import style_of

    default, layer = ({"pooling": {"kind": "mixed", **draw}} for draw in ({}, {"draw": "layer"}))
    assert style_of(default)["color"] == style_of(layer)["color"]
    assert style_of(default)["linestyle"] != style_of(layer)["linestyle"]


def test_another_reading_of_a_kind_gets_a_row_of_its_own_without_the_default_readings_cost():
    runs = [record("table2", "max", s, e, 1000) for s, e in enumerate([48.0, 47.0, 47.5])]
    runs += [record("zoo", "mixed", s, e, 1000, train_error=70.0) for s, e in enumerate([64.0, 65.0, 64.5])]
    layer = [record("zoo", "mixed", s, e, 1000, train_error=52.0) for s, e in enumerate([46.0, 47.0, 47.5])]
    for r in layer:
        r["config"]["pooling"]["draw"] = "layer"
    text = "\n".join(pooling_zoo([*runs, *layer, bench({"max": 100.0, "mixed": 120.0}, "2026-02-01")]))
    assert "| mixed | +0 | 3 | 64.50 ± 0.50 (3 seeds) |" in text and text.count("| 1.20 |") == 1
    assert "| mixed draw=layer | +0 | 3 | 46.83 ± 0.76 (3 seeds) |" in text
    assert text.split("| mixed draw=layer |")[1].split("\n")[0].endswith("| — |")  # not what the benchmark timed
    reading = text.split("### What the seeds show")[1]
    assert "mixed draw=layer (-0.67, p = " in reading
    assert "- **Other readings of a kind** (test error minus the default reading's, points): mixed draw=layer minus " \
           "mixed: -17.67 ± 0.58 (3 pairs, t = -53.0, p = 0.00036); final training error 52.0% against 70.0%." \
           in reading

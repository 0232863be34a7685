"""Progress lines: what a campaign's log shows of a run whose progress bar is off."""
from types import SimpleNamespace

import torch

from ftn.progress import ProgressLines


def _trainer(step, bar=None, metrics=None):
    return SimpleNamespace(progress_bar_callback=bar, global_step=step, max_steps=3000, sanity_checking=False,
                           callback_metrics=metrics or {})


def test_a_line_after_each_validation_gives_step_pace_time_left_and_the_validation_error(capsys, monkeypatch):
    clock = iter([100.0, 100.0 + 2 * 500])  # started at 100 s; 500 steps later, 2 s a step
    monkeypatch.setattr("ftn.progress.time.monotonic", lambda: next(clock))
    lines = ProgressLines()
    lines.on_train_start(_trainer(1000), None)  # a resumed run: its pace counts this process's steps
    metrics = {"test/error": torch.tensor(0.42131), "test/loss": torch.tensor(1.3), "m1/test/error": torch.tensor(0.5)}
    lines.on_validation_end(_trainer(1500, metrics=metrics), None)
    assert capsys.readouterr().out == ("step 1500/3000 (50%): 2.00 s/step, about 50 min left; "
                                       "m1/test/error 0.5000, test/error 0.4213\n")


def test_lines_between_validations_come_every_so_often_and_never_beside_a_progress_bar(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr("ftn.progress.time.monotonic", lambda: now[0])
    lines = ProgressLines(every_s=60)
    lines.on_train_start(_trainer(0), None)
    for step, now[0] in [(1, 30.0), (2, 61.0), (3, 90.0), (4, 125.0)]:
        lines.on_train_batch_end(_trainer(step), None, None, None)
    assert capsys.readouterr().out.splitlines() == ["step 2/3000 (0%): 30.50 s/step, about 25 h 24 min left",
                                                    "step 4/3000 (0%): 31.25 s/step, about 26 h 00 min left"]
    beside_a_bar = ProgressLines(every_s=0)
    beside_a_bar.on_train_start(_trainer(0, bar=object()), None)
    beside_a_bar.on_train_batch_end(_trainer(1), None, None, None)
    beside_a_bar.on_validation_end(_trainer(1), None)
    assert capsys.readouterr().out == ""


def test_a_run_counted_in_epochs_says_which_epoch_and_its_validation_mae(capsys):
    lines = ProgressLines()
    trainer = SimpleNamespace(progress_bar_callback=None, global_step=40, max_steps=-1, max_epochs=8, current_epoch=1,
                              sanity_checking=False, callback_metrics={"val/mae": torch.tensor(18.65512)})
    lines.on_train_start(trainer, None)
    lines.on_validation_end(trainer, None)
    assert capsys.readouterr().out == "epoch 2/8; val/mae 18.6551\n"

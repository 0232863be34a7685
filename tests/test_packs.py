"""Packs: K solo models as one grouped model. Each member computes, learns and checkpoints as its solo model."""
import copy
import io
import re

import pytest
import torch
import torch.nn.functional as F

from ftn.models import VGG16, ConvNet
from ftn.models.packed import Pack, PackedDropout
from ftn.pooling import KINDS, LSTMPool2d, PoolFactory, constrain_lstm_pools_
from ftn.pooling.packed import PackedPool, packable_kinds

MEMBERS = [("max", 0), ("max", 1), ("lstm", 0), ("lstm_shared", 1), ("avg", 2), ("lstm", 3)]


def solo(kind, seed, dropout=0.0, width=4):
    torch.manual_seed(seed)
    return ConvNet(width, PoolFactory(kind), dropout=dropout, image_size=8, pool_sizes=(2, 2))


def batches(k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, 5, 3, 8, 8, generator=g) * 3, torch.randint(10, (k, 5), generator=g)


def member_losses(logits, y):
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(len(y), -1).mean(1)


def sgd(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)


def test_every_member_starts_as_its_solo_model_and_computes_as_it():
    models = [solo(kind, seed) for kind, seed in MEMBERS]
    pack = Pack(models, [seed for _, seed in MEMBERS])
    for k, model in enumerate(models):
        state, mine = model.state_dict(), pack.member_state_dict(k)
        assert mine.keys() == state.keys()
        for key in state:
            assert torch.equal(mine[key], state[key]), key
    x, _ = batches(len(models))
    out = pack(x)
    for k, model in enumerate(models):
        torch.testing.assert_close(out[k], model(x[k]), rtol=1e-5, atol=1e-6)


def test_a_pack_of_one_is_the_solo_model():
    model = solo("lstm", 0)
    pack = Pack([model], [0])
    x, y = batches(1)
    torch.testing.assert_close(pack(x)[0], model(x[0]), rtol=1e-6, atol=1e-6)


def test_training_steps_follow_each_solo_run():
    """Three steps of SGD with momentum, per-member clipping and the constraint: each member's weights, BN
    statistics and momentum stay those of its solo run."""
    models = [solo(kind, seed) for kind, seed in MEMBERS]
    pack = Pack(models, [seed for _, seed in MEMBERS])
    solos = [copy.deepcopy(m) for m in models]
    pack_opt, solo_opts = sgd(pack.parameters()), [sgd(m.parameters()) for m in solos]
    for step in range(3):
        x, y = batches(len(models), seed=step)
        pack_opt.zero_grad()
        member_losses(pack(x), y).sum().backward()
        pack.clip_member_grads_(1.0)  # small enough that some members are clipped
        pack_opt.step()
        constrain_lstm_pools_(pack)
        for k, (model, opt) in enumerate(zip(solos, solo_opts)):
            opt.zero_grad()
            F.cross_entropy(model(x[k]), y[k]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            constrain_lstm_pools_(model)
    names = {id(p): n for n, p in pack.named_parameters()}
    momentum = {names[id(p)]: pack_opt.state[p]["momentum_buffer"] for p in pack.parameters()}
    for k, (model, opt) in enumerate(zip(solos, solo_opts)):
        mine, state = pack.member_state_dict(k), model.state_dict()
        for key in state:
            torch.testing.assert_close(mine[key], state[key], rtol=1e-4, atol=1e-5, msg=key)
        buffers = pack.split_member(momentum, k)
        for name, param in model.named_parameters():
            torch.testing.assert_close(buffers[name], opt.state[param]["momentum_buffer"], rtol=1e-4, atol=1e-5)


def test_every_unit_of_every_member_gets_gradient():
    pack = Pack([solo(kind, seed) for kind, seed in MEMBERS], [seed for _, seed in MEMBERS])
    x, y = batches(pack.size)
    member_losses(pack(x), y).sum().backward()
    units = {id(m.params): m.params for m in pack.modules() if isinstance(m, LSTMPool2d)}
    assert len(units) == 5  # lstm members 2 and 5: two layers each; lstm_shared member 3: one unit
    for params in units.values():
        assert (params.grad.abs() > 0).all()  # all 12 entries


def test_a_diverged_member_does_not_reach_its_pack_mates():
    pack = Pack([solo("lstm", 0), solo("max", 1), solo("lstm", 2)], [0, 1, 2])
    x, y = batches(3)
    with torch.no_grad():
        pack.model.features[0].weight[:4].fill_(float("nan"))  # member 0's first conv
    losses = member_losses(pack(x), y)
    losses.sum().backward()
    norms = pack.clip_member_grads_(10.0)
    assert losses[0].isnan() and norms[0].isnan()
    assert losses[1:].isfinite().all() and norms[1:].isfinite().all()
    for name, param in pack.named_parameters():
        others = pack.split_member({name: param.grad}, 1) | pack.split_member({name: param.grad}, 2)
        assert all(g.isfinite().all() for g in others.values()), name


def test_dropout_masks_are_the_members_own():
    """A member's masks depend on its seed and layer alone: the same member in two packs draws the same masks."""
    x = torch.ones(4, 3 * 6)
    in_one = PackedDropout(0.5, [7, 8, 9])(x).view(4, 3, 6)
    in_other = PackedDropout(0.5, [5, 8])(x[:, :12]).view(4, 2, 6)
    assert torch.equal(in_one[:, 1], in_other[:, 1])  # seed 8 in both packs
    assert not torch.equal(in_one[:, 0], in_one[:, 2])
    assert set(in_one.unique().tolist()) == {0.0, 2.0}


def test_a_resumed_pack_draws_the_dropout_masks_of_the_straight_one():
    """The generators' states are in the pack's state_dict, hence in its checkpoint: a pack restored from it goes on
    drawing where it stopped, not afresh from the seeds."""
    def pack():
        return Pack([solo("max", 0, dropout=0.5), solo("lstm", 1, dropout=0.5)], [0, 1]).train()

    x, _ = batches(2)
    straight, cut = pack(), pack()
    first = straight(x)
    second = straight(x)
    cut(x)
    saved = io.BytesIO()
    torch.save(cut.state_dict(), saved)
    saved.seek(0)
    resumed = pack()
    resumed.load_state_dict(torch.load(saved, weights_only=True))  # as a checkpoint is read
    assert torch.equal(resumed(x), second)
    assert not torch.equal(second, first)  # the masks of the second step are not those of the first
    assert resumed.member_state_dict(1).keys() == solo("lstm", 1, dropout=0.5).state_dict().keys()


def test_vgg16_packs_too():
    models = []
    for kind, seed in (("max", 0), ("lstm", 1)):
        torch.manual_seed(seed)
        models.append(VGG16(PoolFactory(kind), hidden=16).eval())
    pack = Pack(models, [0, 1]).eval()
    x = torch.randn(2, 2, 3, 32, 32)
    out = pack(x)
    for k, model in enumerate(models):
        assert pack.member_state_dict(k).keys() == model.state_dict().keys()
        torch.testing.assert_close(out[k], model(x[k]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("models, message", [
    (lambda: [solo("lstm_region", 0), solo("max", 1)], "pooling=lstm_region cannot be packed"),
    (lambda: [solo("lp", 0), solo("max", 1)], "LpPool cannot be packed"),
    (lambda: [solo("mixed", 0)], "MixedPool cannot be packed"),
    (lambda: [solo("max", 0), solo("max", 1, width=8)], "pack member 1 has features.0 = Conv2d"),
    (lambda: [solo("max", 0, dropout=0.5), solo("max", 1)], "pack member 1 has classifier.3 = Dropout"),
])
def test_a_bad_pack_is_one_line(models, message):
    built = models()
    with pytest.raises(ValueError, match=message) as err:
        Pack(built, list(range(len(built))))
    assert "\n" not in str(err.value) and "allowed" in str(err.value)


def _pools_alike_per_member(kind: str) -> bool:
    """What a kind's layer says of itself: an LSTM layer with one unit (the pack stacks the members' units), or a
    layer with no parameters of its own that gives the same output twice while training (no random draws)."""
    torch.manual_seed(0)
    pool = PoolFactory(kind)(2, 0.01, (4, 4), 3).train()
    if isinstance(pool, LSTMPool2d):
        return pool.params.dim() == 2
    x = torch.randn(2, 3, 4, 4)
    return not list(pool.parameters()) and torch.equal(pool(x), pool(x))


def test_the_packable_kinds_are_those_whose_layers_pool_alike_per_member():
    assert packable_kinds() == tuple(kind for kind in KINDS if _pools_alike_per_member(kind))
    assert {"max", "avg", "lstm", "lstm_shared"} <= set(packable_kinds()) and "gated" not in packable_kinds()


@pytest.mark.parametrize("kind", KINDS)
def test_a_packable_kind_pools_each_members_channels_as_its_own_layer_and_another_is_refused(kind):
    torch.manual_seed(0)
    pools = [PoolFactory(kind)(2, 0.01, (4, 4), 3) for _ in range(2)]  # a factory each: lstm_shared's own unit
    if kind not in packable_kinds():
        allowed = ", ".join(packable_kinds())
        with pytest.raises(ValueError, match=f"cannot be packed: .*; allowed in a pack: {allowed}$"):
            PackedPool(pools)
        return
    x = torch.randn(2, 6, 4, 4)
    expected = torch.cat([pools[0](x[:, :3]), pools[1](x[:, 3:])], 1)
    torch.testing.assert_close(PackedPool(pools)(x), expected)


def test_member_health_is_the_solo_rule_per_member():
    from ftn.health import MemberHealth

    health = MemberHealth(3)
    health.note_losses(torch.tensor([2.3, float("nan"), 2.0]), step=0, epoch=0)
    health.note_losses(torch.tensor([2.3e5, 1.0, 2.1e6]), step=4, epoch=1)  # member 2: over 10^6 x its first loss
    health.note_grad_norms(torch.tensor([float("inf"), 1.0, 1.0]), step=7, epoch=1)
    assert health.alive.tolist() == [False, False, False]
    assert health.died_at.tolist() == [7, 0, 4] and health.died_in_epoch.tolist() == [1, 0, 1]
    fresh = MemberHealth(2)
    fresh.note_losses(torch.tensor([2.3, 2.3]), step=0, epoch=0)
    fresh.note_losses(torch.tensor([2.3e5, 2.3]), step=1, epoch=0)  # far up, still within 10^6 of its start
    assert fresh.alive.all() and fresh.died_at.tolist() == [-1, -1]


@pytest.mark.parametrize("argv, message", [([], "no pack member given"),
                                           (["notjson"], "pack member 0 is 'notjson'; allowed: a JSON list"),
                                           (['["seed=0", 1]'], "pack member 0 is"),
                                           (['["model.widht=4"]'], "Could not override 'model.widht'"),
                                           (['["pooling=maxx"]'], "pooling=maxx: not an option of the pooling")])
def test_bad_pack_arguments_stop_in_one_line(argv, message):
    from ftn.packing import main as packing_main

    with pytest.raises(SystemExit) as stop:
        packing_main(argv)
    assert message in str(stop.value.code) and "\n" not in str(stop.value.code)


def test_the_same_run_twice_is_refused_before_the_locks(tmp_path, monkeypatch):
    from ftn.packing import main as packing_main

    monkeypatch.setenv("FTN_RUNS", str(tmp_path / "runs"))
    run = '["experiment=table2", "dataset=synthetic", "seed=0"]'
    with pytest.raises(SystemExit) as stop:
        packing_main([run, run])
    assert re.fullmatch(r"run_dir: /\S+ is the folder of two members; allowed: a folder of its own per member",
                        stop.value.code)


def test_a_pack_with_a_diverged_member_exits_1_as_a_diverged_solo_run(tmp_path, monkeypatch, capsys):
    import json
    from types import SimpleNamespace

    import ftn.packing as packing

    monkeypatch.setattr(packing, "compose_member", lambda o: SimpleNamespace(run_dir=tmp_path / o[0], overrides=o))
    monkeypatch.setattr(packing, "run_pack", lambda members: ["diverged", "finished"])
    for name, steps in (("dead", 0), ("mate", 12)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"steps": steps}))
    with pytest.raises(SystemExit) as stop:
        packing.main(['["dead"]', '["mate"]'])
    assert stop.value.code.startswith("a pack member did not finish (diverged")
    assert capsys.readouterr().out.splitlines() == ["diverged at step 0: dead", "finished at step 12: mate"]

"""``Pack``: K solo models of one architecture, trained as one model with one optimizer step.

The layout is torch-uncertainty's packed ensembles with an input of its own per member: member k owns channels
[k C, (k + 1) C) of every layer, so every layer becomes one grouped layer of the same kind:

    nn.Conv2d(cin, cout, groups=g)  ->  nn.Conv2d(K cin, K cout, groups=K g)
    nn.BatchNorm2d(C)               ->  nn.BatchNorm2d(K C)         (statistics per channel: per member)
    nn.Linear(fin, fout)            ->  PackedLinear: K matrices, one batched matmul
    nn.Dropout(p)                   ->  PackedDropout: one generator per member
    a pooling layer                 ->  ftn.pooling.packed.PackedPool
    nn.Flatten, activations         ->  themselves (channels stay member-major)

The pack is built from the members' solo models, so Conv N and VGG16 stay written once and a member starts
exactly as its solo run (built under its own seed). Nothing mixes members: every layer is channel-wise or
grouped, so a member's loss moves only its own slice and a NaN stays in its member. ``member_state_dict(k)``
hands member k back in solo format (the solo model's keys and shapes), and ``split_member`` slices any tensor
laid out like a pack parameter (a gradient, a momentum buffer) the same way.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..pooling.packed import PackedPool

ELEMENTWISE = (nn.Flatten, nn.LeakyReLU, nn.ReLU, nn.Identity)
GROUPED = (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.Dropout, *ELEMENTWISE)  # the rest: pooling layers


class PackedLinear(nn.Module):
    """(B, K fin) -> (B, K fout): K independent linear layers, weight (K fout, fin), member-major like the rest."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.members, self.fin, self.fout = len(layers), layers[0].in_features, layers[0].out_features
        self.weight = nn.Parameter(torch.cat([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.cat([layer.bias.detach() for layer in layers]))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        k, batch = self.members, input.shape[0]
        x = input.view(batch, k, self.fin).transpose(0, 1)  # (K, B, fin)
        out = torch.baddbmm(self.bias.view(k, 1, self.fout), x, self.weight.view(k, self.fout, self.fin).mT)
        return out.transpose(0, 1).reshape(batch, k * self.fout)


class PackedDropout(nn.Module):
    """Dropout whose mask for member k comes from member k's generator, so a member draws the same masks in any
    pack. Generators are seeded from (member seed, layer index), and their states travel in the pack's
    ``state_dict`` (``get_extra_state``), so a resumed pack draws the masks the straight one would have drawn."""

    def __init__(self, p: float, seeds: list[int]) -> None:
        super().__init__()
        self.p, self.seeds = p, seeds
        self.generators: list[torch.Generator] | None = None  # made on the input's device at the first draw
        self.loaded: dict | None = None  # states read from a checkpoint, applied when the generators are made

    def _generators(self, device: torch.device) -> list[torch.Generator]:
        if self.generators is None or self.generators[0].device != device:
            self.generators = [torch.Generator(device).manual_seed(seed) for seed in self.seeds]
            if self.loaded is not None:
                if self.loaded["device"] != device.type:  # a CUDA and a CPU generator's states differ in kind
                    raise ValueError(f"a pack checkpoint's dropout streams were drawn on {self.loaded['device']}; "
                                     f"this run is on {device.type}: resume it on {self.loaded['device']}")
                for generator, state in zip(self.generators, self.loaded["states"]):
                    generator.set_state(state)
                self.loaded = None
        return self.generators

    def get_extra_state(self) -> dict | None:
        if self.generators is None:
            return self.loaded  # None before the first draw: the seeds say it all
        return {"device": self.generators[0].device.type, "states": [g.get_state() for g in self.generators]}

    def set_extra_state(self, state: dict | None) -> None:
        self.generators, self.loaded = None, state

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return input
        members = input.unflatten(1, (len(self.seeds), -1))  # a view in any memory format (channels_last too)
        keep = torch.empty(len(self.seeds), members.shape[0], *members.shape[2:], device=input.device,
                           dtype=input.dtype)
        for mask, generator in zip(keep, self._generators(input.device)):
            mask.bernoulli_(1 - self.p, generator=generator)  # (B, *features) of one member
        return (members * keep.transpose(0, 1)).flatten(1, 2) / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, members={len(self.seeds)}"


def _packed_conv(convs: list[nn.Conv2d]) -> nn.Conv2d:
    c, k = convs[0], len(convs)
    out = nn.Conv2d(k * c.in_channels, k * c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation,
                    k * c.groups, c.bias is not None, c.padding_mode)
    with torch.no_grad():
        out.weight.copy_(torch.cat([conv.weight for conv in convs]))
        if c.bias is not None:
            out.bias.copy_(torch.cat([conv.bias for conv in convs]))
    return out


def _packed_norm(norms: list[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    n, k = norms[0], len(norms)
    out = nn.BatchNorm2d(k * n.num_features, n.eps, n.momentum, n.affine, n.track_running_stats)
    with torch.no_grad():
        for name, tensor in out.state_dict(keep_vars=True).items():
            if tensor.dim():  # weight, bias, running_mean, running_var; num_batches_tracked is one count
                tensor.copy_(torch.cat([getattr(norm, name) for norm in norms]))
    return out


def _pack_layer(layers: list[nn.Module], index: int, seeds: list[int]) -> nn.Module:
    first = layers[0]
    if isinstance(first, nn.Conv2d):
        return _packed_conv(layers)
    if isinstance(first, nn.BatchNorm2d):
        return _packed_norm(layers)
    if isinstance(first, nn.Linear):
        return PackedLinear(layers)
    if isinstance(first, nn.Dropout):
        return PackedDropout(first.p, [seed * 1_000_003 + index for seed in seeds])  # one stream per layer
    if isinstance(first, ELEMENTWISE):
        return copy.deepcopy(first)
    return PackedPool(layers)  # a pooling layer, or a one-line refusal naming what cannot be packed


def _leaves(models: list[nn.Module]) -> list[str]:
    """The names of the models' leaf modules, or a one-line error where the members differ in more than pooling."""
    names = [[n for n, m in model.named_modules() if next(m.children(), None) is None] for model in models]
    for k, (model, mine) in enumerate(zip(models, names)):
        if mine != names[0]:
            raise ValueError(f"pack member {k} has layers {mine}, member 0 {names[0]}; allowed: one architecture")
        for name in mine:
            layer, first = model.get_submodule(name), models[0].get_submodule(name)
            if isinstance(first, GROUPED) and (type(layer), repr(layer)) != (type(first), repr(first)):
                raise ValueError(f"pack member {k} has {name} = {layer!r}, member 0 {first!r}; allowed: members "
                                 "that differ in their pooling and seed only")
    return names[0]


class Pack(nn.Module):
    """K solo models as one: (K, B, 3, H, W) images -> (K, B, classes) logits.

    Args:
        models: the members' solo models, of one architecture (same layers and shapes), in pack order.
        seeds: the members' seeds, for the generators of their dropout masks.
    """

    def __init__(self, models: list[nn.Module], seeds: list[int]) -> None:
        super().__init__()
        if len(models) != len(seeds) or not models:
            raise ValueError(f"a pack needs one seed per model; got {len(models)} models and {len(seeds)} seeds")
        self.size = len(models)
        models = copy.deepcopy(models)  # one copy for all, so a unit shared between layers stays shared
        self.model = copy.deepcopy(models[0])  # the skeleton: the solo forward, its leaves replaced below
        for index, name in enumerate(_leaves(models)):
            parent, _, attr = name.rpartition(".")
            layers = [model.get_submodule(name) for model in models]
            setattr(self.model.get_submodule(parent), attr, _pack_layer(layers, index, seeds))
        self._layout = self._member_layout()
        names = {id(p): n for n, p in self.named_parameters()}
        # each parameter's member, found once: the per-step clipping, norms and zeroing read it
        self._owners = {p: self._layout[names[id(p)]][1] for p in self.parameters()}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        k, batch = images.shape[:2]
        logits = self.model(images.transpose(0, 1).reshape(batch, k * images.shape[2], *images.shape[3:]))
        return logits.view(batch, k, -1).transpose(0, 1)

    # ---- members in solo format ---------------------------------------------------------------------------
    def _member_layout(self) -> dict[str, tuple[str, int | None]]:
        """pack state key -> (solo key, member): member None for a tensor of every member (dim 0 in K chunks,
        or a count they share), else the key belongs to that member alone (a pooling module's unit); solo key
        None for the pack's own state, which no solo model has."""
        layout = {}
        for key in self.state_dict():
            prefix, _, rest = key.partition(".")  # "model."
            parts = rest.split(".")
            if parts[-1] == "_extra_state":  # a PackedDropout's streams: the pack's own, a solo model has none
                layout[key] = (None, None)
            elif "members" in parts:  # <pool>.members.<k>.<name>: member k's own pooling module
                at = parts.index("members")
                layout[key] = (".".join(parts[:at] + parts[at + 2:]), int(parts[at + 1]))
            else:
                layout[key] = (rest, None)
        return layout

    def split_member(self, tensors: dict[str, torch.Tensor], member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s part of ``tensors`` (pack state keys -> tensors shaped like them), under solo keys."""
        out = {}
        for key, tensor in tensors.items():
            solo, owner = self._layout[key]
            if solo is None:
                continue
            if owner is None:
                out[solo] = tensor.chunk(self.size)[member] if tensor.dim() else tensor
            elif owner == member:
                out[solo] = tensor
        return out

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member`` as its solo model's ``state_dict``: same keys, same shapes."""
        return self.split_member(self.state_dict(), member)

    def member_index(self) -> dict[nn.Parameter, int | None]:
        """Each parameter's member (None: its dim 0 holds every member's part, K chunks)."""
        return self._owners

    def _by_member(self, tensor: torch.Tensor) -> torch.Tensor:
        """(K, *) view of a tensor of every member (dim 0 in K chunks), whatever its memory format."""
        return tensor.unflatten(0, (self.size, -1))

    def member_square_norms(self, tensors: dict[nn.Parameter, torch.Tensor]) -> torch.Tensor:
        """(K,): each member's sum of squares over ``tensors`` (one per parameter, e.g. its gradient), on the
        device, without a host sync."""
        owners = self.member_index()
        total = None
        for param, tensor in tensors.items():
            owner = owners[param]
            if owner is None:
                part = tensor.reshape(self.size, -1).square().sum(1)
            else:
                part = torch.zeros(self.size, device=tensor.device, dtype=tensor.dtype)
                part[owner] = tensor.square().sum()
            total = part if total is None else total + part
        return total

    @torch.no_grad()
    def zero_members_(self, tensors: dict[nn.Parameter, torch.Tensor], keep: torch.Tensor) -> None:
        """Zero, in place, the parts of ``tensors`` (one per parameter, shaped like it) of every member where
        ``keep`` (K,) is False: NaN included, which a multiplication by 0 would keep."""
        owners = self.member_index()
        for param, tensor in tensors.items():
            owner = owners[param]
            if owner is None:
                parts = self._by_member(tensor)
                parts.copy_(torch.where(keep.view(-1, *[1] * tensor.dim()), parts, 0.0))
            else:
                tensor.copy_(torch.where(keep[owner], tensor, 0.0))

    @torch.no_grad()
    def clip_member_grads_(self, max_norm: float) -> torch.Tensor:
        """``clip_grad_norm_`` per member: each member's gradients scaled to total norm <= ``max_norm``, never
        over the pack. Returns the (K,) norms before clipping, on the device (a NaN norm: a diverged member)."""
        owners = self.member_index()
        grads = {p: p.grad for p in self.parameters() if p.grad is not None}
        norms = self.member_square_norms(grads).sqrt()
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)  # clip_grad_norm_'s rule
        for param, grad in grads.items():
            owner = owners[param]
            if owner is None:
                self._by_member(grad).mul_(scale.view(-1, *[1] * grad.dim()))
            else:
                grad.mul_(scale[owner])
        return norms

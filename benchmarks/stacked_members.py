"""Would training the five members as one stacked module be faster on a CPU?

A default fit trains five cross-fitted members one after the other, each a small
convolutional network. Stacked into one module, five networks become one with five
times the channels in five groups (``groups=5`` convolutions: what ``torch.func.vmap``
turns a batched convolution into), evaluated in one pass. This times one training
step (forward, backward, AdamW) of the default image network, on batches of 64, in
three ways side by side:

* ``one member``: one network alone (the unit of today's fit);
* ``five in turn``: five networks, one after the other (today's cost of five members);
* ``five stacked``: one grouped network holding the five (the stacked module);

each in float32 and, for images, in bfloat16 autocast (the training default on CPUs
that have it). Writes ``benchmarks/results/stacked_members.md``::

    python -m benchmarks.stacked_members --threads 2
"""

import argparse
import time

import torch
from torch import nn

from sk_i2m2.experts._neural import AUTO_CHANNELS, AUTO_STRIDE, _ConvNet, cpu_has_bfloat16

from ._common import RESULTS, write_text

SHAPES = {"2D 32x32": (1, 32, 32), "2D 64x64": (1, 64, 64), "3D 32^3": (1, 32, 32, 32)}
MEMBERS = 5
BATCH = 64


def stacked_network(shape, n_members):
    """The default network of ``shape`` for ``n_members`` members, as grouped layers."""
    n_spatial = len(shape) - 1
    conv, pool, average = _ConvNet._LAYERS[n_spatial]
    (first, second), stride = AUTO_CHANNELS[n_spatial], AUTO_STRIDE[n_spatial]
    c, g = shape[0] * n_members, n_members
    network = nn.Sequential(
        conv(c, first * g, 3, stride=stride, padding=1, groups=g),
        pool(2, ceil_mode=True), nn.ReLU(),  # in the order of _ConvNet's blocks
        conv(first * g, second * g, 3, padding=1, groups=g),
        pool(2, ceil_mode=True), nn.ReLU(),
        average(2), nn.Flatten(),
        # The heads: one block-diagonal layer each, as grouped 1x1 convolutions.
        nn.Unflatten(1, (second * g * 2 ** n_spatial, 1)),
        nn.Conv1d(second * g * 2 ** n_spatial, 64 * g, 1, groups=g), nn.ReLU(),
        nn.Conv1d(64 * g, 2 * g, 1, groups=g), nn.Flatten())
    return network.to(memory_format=_ConvNet.MEMORY_FORMATS[n_spatial]) \
        if n_spatial == 2 else network


def step_ms(shape, way, bfloat16, repeats):
    """Milliseconds of one training step of ``way`` on batches of :data:`BATCH`."""
    n_spatial = len(shape) - 1
    if way == "five stacked":
        networks = [stacked_network(shape, MEMBERS)]
        inputs = [torch.randn(BATCH, shape[0] * MEMBERS, *shape[1:])]
    else:
        count = 1 if way == "one member" else MEMBERS
        networks = [_ConvNet(shape, AUTO_CHANNELS[n_spatial], 3, (64,), 0.1, 2, 2,
                             AUTO_STRIDE[n_spatial]) for _ in range(count)]
        inputs = [torch.randn(BATCH, *shape) for _ in range(count)]
    for network in networks:
        network.train()
        if isinstance(network, _ConvNet):
            network.bfloat16_training = False  # autocast is set here, for both ways
    optimizer = torch.optim.AdamW([p for n in networks for p in n.parameters()], 1e-3)

    def step():
        optimizer.zero_grad()
        loss = 0.0
        for network, x in zip(networks, inputs, strict=True):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                loss = loss + network(x).float().square().mean()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for name, shape in SHAPES.items():
        for bfloat16 in ((False, True) if cpu_has_bfloat16() else (False,)):
            times = {way: step_ms(shape, way, bfloat16, args.repeats)
                     for way in ("one member", "five in turn", "five stacked")}
            rows.append(f"| {name} | {'bfloat16' if bfloat16 else 'float32'} | "
                        + " | ".join(f"{value:.1f}" for value in times.values())
                        + f" | {times['five in turn'] / times['five stacked']:.2f}x |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "# Five members in turn or stacked in one module: one training step on a CPU",
        "",
        f"Reproduce: ``python -m benchmarks.stacked_members --threads {args.threads}``. "
        f"Milliseconds per training step (forward, backward, AdamW) on batches of "
        f"{BATCH}, {args.threads} torch threads, mean of {args.repeats} steps; the "
        "default network of each shape (images: channels (16, 32), stride 1; "
        "volumes: (8, 16), stride 2).", "",
        "| shape | arithmetic | one member | five in turn | five stacked "
        "| stacked speed-up |",
        "|---|---|---|---|---|---|", *rows, "",
        "A speed-up below 1 means stacking is slower than training the members in turn.",
        ""])
    write_text(RESULTS / "stacked_members.md", text)


if __name__ == "__main__":
    main()

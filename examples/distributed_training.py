"""Train one I2M2Classifier data-parallel over several processes.

Launch it with torch's own launcher, one process per GPU::

    python -m torch.distributed.run --standalone --nproc_per_node 2 examples/distributed_training.py

or on the CPU, with the gloo backend::

    python -m torch.distributed.run --standalone --nproc_per_node 2 \\
        examples/distributed_training.py --cpu

Every process loads the same rows and calls ``fit`` with the same ``random_state``;
with ``distributed=True`` each training step splits its ``batch_size`` rows among
the processes and averages their gradients (torch's DistributedDataParallel), while
preprocessing, validation and early stopping run alike on every process. So every
process ends with the same model; rank 0 alone reports and writes it.
"""

import argparse
import os

import torch
import torch.distributed as dist
from sklearn.model_selection import train_test_split

import sk_i2m2
from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import ConcatFusion, MLPExpert


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true",
                        help="train on the CPU with the gloo backend (default: one GPU "
                             "per process, NCCL)")
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--n-bags", default="auto",
                        help="members of the cross-fitted ensemble ('auto' or an int)")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="dropout of every expert (0 makes the fit match the one of "
                             "a single process up to rounding)")
    parser.add_argument("--output", default="i2m2_distributed.zip",
                        help="where rank 0 writes the fitted model ('' writes nothing)")
    return parser.parse_args(argv)


def make_model(args, **params):
    """The data split and the classifier, as every process (or a single one) builds them."""
    X, y, modalities = make_multimodal_classification(
        n_samples=args.n_samples, dependency="mixed", random_state=0)
    modalities = [(name, MLPExpert(dropout=args.dropout), columns)
                  for name, _, columns in modalities]
    split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    n_bags = args.n_bags if args.n_bags == "auto" else int(args.n_bags)
    clf = I2M2Classifier(modalities, fusion=ConcatFusion(dropout=args.dropout),
                         n_bags=n_bags, max_epochs=args.max_epochs, random_state=0, **params)
    return split, clf


def main(argv=None):
    args = parse_args(argv)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if args.cpu:
        backend, device = "gloo", "cpu"
    else:
        backend, device = "nccl", f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend)  # rank and world size come from torchrun
    try:
        (X_train, X_test, y_train, y_test), clf = make_model(args, distributed=True,
                                                              device=device)
        clf.fit(X_train, y_train)
        accuracy = clf.score(X_test, y_test)
        if dist.get_rank() == 0:
            epochs = sum(1 for row in clf.history_ if row.get("member", 0) == 0)
            print(f"world size {dist.get_world_size()}, {epochs} epochs, held-out "
                  f"accuracy {accuracy:.4f}")
            if args.output:
                sk_i2m2.save(clf, args.output)
                print(f"model written to {args.output}")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

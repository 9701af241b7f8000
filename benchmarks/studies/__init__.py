"""Decision studies: each chose a default that is now settled, and is not part of the
suite (``python -m benchmarks.run``). Kept so that their results, still in
``benchmarks/results/``, can be reproduced: ``python -m benchmarks.studies.<name>``.

* ``defaults_study``: eleven candidate training settings; chose the cross-fitted
  ensemble (``benchmarks/results/defaults_study.md``);
* ``linear_path``: ``MLPExpert(linear=True)`` against the defaults; not adopted
  (``benchmarks/results/linear_path.md``);
* ``temperature_leaf``: the leaf data's log loss at the fitted temperature and at
  ``T = 1`` (``benchmarks/results/temperature_leaf.txt``);
* ``weight_snapshot``: the per-epoch cost of keeping the last finite weights
  (``benchmarks/results/weight_snapshot.md``).
"""

"""
Volumes from NIfTI files beside a table
=======================================

MRI and CT come as volumes, one file (or one folder of DICOM slices) per patient.
:func:`~sk_i2m2.datasets.make_volume_scans` writes such a cohort: NIfTI volumes that
each hold one bright lesion of random size, large in about half the patients (the
outcome; near the size threshold large and small are hard to tell apart), beside a
table of age and sex, where age is mildly informative too. The volumes are stored
mirrored along two axes, as files converted from DICOM often are, and the reader
brings them back to one orientation.

A :class:`~sk_i2m2.experts.CNNExpert` whose ``input_shape`` has four axes,
``(channels, depth, height, width)``, is a 3D network; with ``loader="auto"`` it reads
the column of paths batch by batch. Everything here is at the package's defaults.
Needs nibabel (the ``imaging`` extra). The user guide's
:doc:`../user_guide/volumes` page says how volumes are read and what the 3D
defaults are.

To run in about a minute on a laptop's CPU, this example uses less data than a
study would: 120 volumes of 16 x 16 x 16 voxels, 40 of them held out. Set
``n_patients, size = 300, 32`` below for the size of ``benchmarks/volumes.py``
(several minutes; the benchmark's results are in ``benchmarks/results/volumes.md``).
"""

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_volume_scans
from sk_i2m2.imaging import read_volume

# Small, to run quickly: the benchmark's size is 300, 32.
n_patients, size = 120, 16

folder = tempfile.mkdtemp(prefix="sk_i2m2_volumes_")
X, y, modalities = make_volume_scans(folder, n_samples=n_patients, size=size,
                                     random_state=0)
for name, expert, columns in modalities:
    print(f"{name:<9} {expert!r}  columns {columns}")
print(X.head(3))

# %%
# One file as the loader reads it: :func:`~sk_i2m2.imaging.read_volume` gives the
# voxels in RAS+ order (the first axis runs from the patient's left to their right,
# the second from back to front, the third from feet to head), whatever order the
# file stores them in, and the voxel spacing in millimetres.
volume, spacing = read_volume(X["scan"][0])
print(f"shape {volume.shape}, {volume.dtype}, voxel spacing {spacing} mm")

# %%
# The middle axial slice of three volumes of each class (left to right across, back
# to front upwards), and below it the brightest voxel along the feet-to-head axis,
# where the lesion shows wherever it lies. The title is the label: 1 for a large
# lesion, 0 for a small one.
shown = np.concatenate([np.flatnonzero(y == 1)[:3], np.flatnonzero(y == 0)[:3]])
fig, axes = plt.subplots(2, len(shown), figsize=(9, 3.4))
for column, patient in enumerate(shown):
    volume, _ = read_volume(X["scan"][patient])
    views = (volume[:, :, volume.shape[2] // 2], volume.max(axis=2))
    for ax, view in zip(axes[:, column], views, strict=True):
        ax.imshow(view.T, cmap="gray", origin="lower")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, column].set_title(f"label {y[patient]}", fontsize=9)
axes[0, 0].set_ylabel("middle slice", fontsize=9)
axes[1, 0].set_ylabel("maximum", fontsize=9)
fig.tight_layout()

# %%
# Fit the product at the package's defaults: the 3D CNN (``channels="auto"``, (8, 16),
# and a first convolution of stride 2), an MLP on the table, the fusion expert over
# both, and a cross-fitted ensemble of five early-stopped products whose temperature
# is fitted on their out-of-fold predictions. One third of the patients is held out.
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=1 / 3, stratify=y, random_state=0)
clf = I2M2Classifier(modalities, random_state=0).fit(X_train, y_train)
print(f"held-out accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Each expert's own prediction: the scan expert sees the lesion, the table expert
# only the age that goes with it.
proba = clf.expert_proba(X_test)
for name, p in proba.items():
    print(f"{name:<9} accuracy {(clf.classes_[p.argmax(1)] == y_test).mean():.3f}")

# %%
# Which expert drove the predictions: :meth:`~sk_i2m2.I2M2Classifier.explain` gives,
# for every held-out patient, each expert's share of the evidence for the predicted
# class and whether it agreed with it. The scan's expert and the fusion expert,
# which sees the scan and the table together, carry most of it.
table = clf.explain(X_test)
summary = table.groupby("expert", sort=False)[["share", "agrees"]].mean()
print(summary.round(3))

fig, ax = plt.subplots(figsize=(5, 2.2))
ax.barh(summary.index, summary["share"], color="tab:blue")
ax.set_xlabel("mean share of the evidence (held out)")
ax.set_xlim(0, 1)
ax.invert_yaxis()
fig.tight_layout()

"""Maps of a volume modality's ``input_shape`` written back on the scan's own grid.

An attribution map (``estimator.attribution_maps(X, "mri")``) lies on the grid the
network saw: the scan read in RAS+ order, then resized, or resampled to a spacing
and centre-cropped or padded, to ``input_shape``. :func:`save_like` undoes those
steps and writes the map as NIfTI with the scan's affine, so that it opens over the
scan in any viewer (FSLeyes, ITK-SNAP, 3D Slicer, nilearn).
"""

import math
import os

import numpy as np
import torch

from ._files import as_image_loader
from ._loader import centre_slices, read_volume_geometry, spacing_scale
from ._volumes import _import_nibabel, is_nifti

__all__ = ["save_like"]

# The NIfTI codes of the space an affine maps to (sform_code, qform_code).
SCANNER_SPACE = 1


def _check_output(path):
    name = os.fspath(path)
    if not name.lower().endswith((".nii", ".nii.gz")):
        raise ValueError(f"save_like writes NIfTI: the path must end in .nii or .nii.gz, "
                         f"got {name!r}.")
    return name


def _check_map(array):
    """``array`` as float64 ``(C, D, H, W)``, refused when no map of one volume."""
    values = np.asarray(array, dtype=np.float64)
    if values.ndim not in (3, 4):
        hint = (" (several rows? pass one map, e.g. maps[i])" if values.ndim == 5 else "")
        raise ValueError(
            f"save_like takes one volume's map, (depth, height, width) or (channels, "
            f"depth, height, width); got shape {values.shape}{hint}."
        )
    if np.isnan(values).all():
        raise ValueError(
            "the map is NaN: the row lacks the modality (attribution_maps gives NaN "
            "for such rows), so there is no map to save."
        )
    if not np.isfinite(values).all():
        raise ValueError("the map holds NaN or infinite values; save_like writes finite "
                         "maps only.")
    return values if values.ndim == 4 else values[None]


def _reference_geometry(reference):
    """The reference scan's spatial shape, spacing (or None) and RAS+ affine."""
    try:
        data, spacing, affine = read_volume_geometry(reference)
    except ValueError as error:  # an unknown file type, or a damaged file
        raise ValueError(f"cannot read the reference {os.fspath(reference)!r}: {error}"
                         ) from error
    if affine is None:
        raise ValueError(
            f"save_like needs a NIfTI or DICOM reference (a .nii or .nii.gz file, a "
            f"folder of DICOM slices, or an enhanced multi-frame DICOM file) whose "
            f"geometry places the map in the patient; {os.fspath(reference)!r} holds no "
            "such geometry."
        )
    return tuple(int(size) for size in data.shape[:3]), spacing, affine


def _uncrop(volume, size):
    """``(C, *map)`` put back where the loader's centre crop or pad took it from.

    The inverse of the loader's crop or pad: what it cropped away comes back as 0
    (the network never saw it), what it padded is dropped.
    """
    result = np.zeros((len(volume), *size), dtype=volume.dtype)
    taken_from, put_at = centre_slices(size, volume.shape[1:])
    result[taken_from] = volume[put_at]
    return result


def _trilinear(volume, **options):
    """``(C, D, H, W)`` through :func:`torch.nn.functional.interpolate`, trilinear."""
    tensor = torch.from_numpy(np.ascontiguousarray(volume))[None]
    return torch.nn.functional.interpolate(tensor, mode="trilinear", align_corners=False,
                                           **options)[0].numpy()


def _unscale(volume, scale, size):
    """``(C, *resampled)`` brought back to ``size``, the inverse of resampling by ``scale``.

    The loader's voxel ``o`` took its value at ``(o + 0.5) / scale - 0.5`` of the
    scan; resampling by ``1 / scale`` puts each scan voxel ``x`` back at ``(x + 0.5) *
    scale - 0.5`` of the map, exactly. The map is first extended by its last voxel
    so that the result covers the whole scan (the loader's sizes are rounded down).
    """
    resampled = np.asarray(volume.shape[1:])
    needed = np.array([math.ceil(n * s) + 1 for n, s in zip(size, scale, strict=True)])
    extra = np.maximum(needed - resampled, 0)
    volume = np.pad(volume, [(0, 0)] + [(0, int(n)) for n in extra], mode="edge")
    volume = _trilinear(volume, scale_factor=tuple(float(1 / s) for s in scale),
                        recompute_scale_factor=False)
    return volume[(slice(None), *(slice(0, n) for n in size))]


def _to_reference_grid(values, shape, spacing, loader):
    """A ``(C, *input_shape)`` map brought back to the reference's spatial ``shape``."""
    target = None if loader is None else loader.spacing
    if target is not None and spacing is not None:
        scale = spacing_scale(spacing, target)
        # The loader's resampled size: whole voxels of the target spacing, axes at it
        # already left as they were.
        resampled = tuple(n if s == 1 else int(math.floor(n * s))
                          for n, s in zip(shape, scale, strict=True))
        values = _uncrop(values, resampled)
        if (scale != 1).any():
            values = _unscale(values, scale, shape)
        return values
    if values.shape[1:] != shape:
        # The loader resized the scan to input_shape; resizing back inverts it.
        values = _trilinear(values, size=shape)
    return values


def save_like(array, reference, path, loader=None):
    """Write a map of a volume modality's ``input_shape`` as NIfTI on a scan's grid.

    An attribution map (:meth:`~sk_i2m2.I2M2Classifier.attribution_maps`) is on the
    grid the network saw: the scan read in RAS+ order (:func:`read_volume`), then
    brought to ``input_shape`` by the expert's :class:`ImageLoader`. ``save_like``
    undoes that step and writes the map with the scan's affine, so that it lies over
    the scan in any NIfTI viewer:

    * a loader resizes the scan to ``input_shape`` (``loader=None``, or a loader
      whose ``spacing`` is None, or a scan of unknown spacing): the map is resized
      back to the scan's shape (trilinear, ``align_corners=False``);
    * a loader with ``spacing`` resamples the scan to that spacing, then
      centre-crops or pads it: the crop and pad are undone, and the map is
      resampled back to the scan's spacing, voxel centres where the loader took
      them from. What the crop cut away, which the network never saw, gets 0.

    Parameters
    ----------
    array : array-like of shape (D, H, W) or (C, D, H, W)
        One row's map, of the modality's ``input_shape`` (with or without its
        channel axis), e.g. ``estimator.attribution_maps(X, "mri")[i]``.
    reference : str or path
        The scan the row was read from: a NIfTI file, a folder of DICOM slices or an
        enhanced multi-frame DICOM file. Relative paths are read from the loader's
        ``root``, as the loader reads them.
    path : str or path
        Where to write the map: ``.nii`` or ``.nii.gz``.
    loader : ImageLoader, "auto", callable or None, default=None
        The expert's ``loader``, which read the scan for it (e.g.
        ``estimator.get_params()["mri__loader"]``). None and ``"auto"`` resize, as
        ``ImageLoader()`` does. Its ``reader`` must give the scan's array as
        :func:`read_volume` does, in RAS+ order.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        When ``path`` is not ``.nii``/``.nii.gz``, ``array`` is not one volume's
        map or holds NaN (a row lacking the modality), or ``reference`` has no
        geometry (``.npy``, a photo, a single DICOM image).

    Notes
    -----
    The NIfTI holds float32 values in ``(X, Y, Z)`` RAS+ voxel order, the affine
    of the reference in mm; one channel is written as a 3-D file, several as a 4-D
    file with the channels last. Needs nibabel: ``pip install
    'sk-i2m2[imaging]'``.

    Examples
    --------
    A map of an expert's ``input_shape``, ``(1, 8, 8, 8)``, back on a scan of 20 x 24
    x 16 voxels; with a fitted model, ``maps = clf.attribution_maps(X, "mri")`` and
    ``save_like(maps[i], X["mri"].iloc[i], ...)`` for row ``i``:

    >>> import os, tempfile
    >>> import nibabel, numpy as np
    >>> from sk_i2m2.imaging import save_like
    >>> folder = tempfile.mkdtemp()
    >>> scan = os.path.join(folder, "scan.nii.gz")
    >>> nibabel.save(nibabel.Nifti1Image(np.zeros((20, 24, 16), np.float32),
    ...                                  np.diag([1.5, 1.5, 2.0, 1.0])), scan)
    >>> out = save_like(np.ones((1, 8, 8, 8)), scan, os.path.join(folder, "map.nii.gz"))
    >>> nibabel.load(out).shape
    (20, 24, 16)
    """
    nibabel = _import_nibabel()
    name = _check_output(path)
    values = _check_map(array)
    loader = as_image_loader(loader)
    if loader is not None:
        reference = loader.resolve(reference)
    shape, spacing, affine = _reference_geometry(reference)
    values = _to_reference_grid(values, shape, spacing, loader)
    data = values[0] if len(values) == 1 else np.moveaxis(values, 0, -1)
    image = nibabel.Nifti1Image(data.astype(np.float32), affine)
    code = SCANNER_SPACE
    if is_nifti(reference):
        # The reference's space (scanner, aligned, a template...) is the map's too.
        header = nibabel.load(reference).header
        code = int(header["sform_code"]) or int(header["qform_code"]) or SCANNER_SPACE
    image.set_sform(affine, code=code)
    image.set_qform(affine, code=code)
    image.header.set_xyzt_units(xyz="mm")
    nibabel.save(image, name)
    return name

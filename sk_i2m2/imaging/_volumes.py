"""Volumes read from files: NIfTI, a folder of DICOM slices, an enhanced multi-frame DICOM.

Each reader returns the voxels and their spacing in millimetres, one value per
spatial axis of the array (None where the file does not say), so that a loader can
bring scans from different scanners to one physical scale. The public names are
those of :mod:`sk_i2m2.imaging`; this module also holds the DICOM pixel helpers
that the single-image reader shares with the volume readers.

Every volume comes in the closest canonical RAS+ voxel order, NIfTI and DICOM
alike: the readers build the affine that maps voxel indices to the scanner's world
(in mm, RAS+), and :func:`to_closest_canonical` permutes and flips the voxel axes
as it says, so that one anatomy gives one array whatever the file format and the
order its voxels are stored in. The ``*_geometry`` readers return that affine too,
for writing maps back on a scan's grid (:func:`sk_i2m2.imaging.save_like`).

A volume is a regular grid: slices evenly spaced along the normal of their plane.
Files that do not make one (a slice missing, two at the same place, slices of
different orientation, spacing or size, several series in one folder) are refused
with an error that names the folder or file and what differs, rather than stacked
into an array whose geometry would silently be wrong.
"""

import os
from pathlib import Path

import numpy as np

DICOM_SUFFIXES = {".dcm", ".dicom"}
NIFTI_SUFFIXES = (".nii", ".nii.gz")

# Slice geometry tolerances. DICOM writes positions as decimal strings of at most 16
# characters, so equal gaps differ in their last digits; a missing slice changes a
# gap by a whole slice step. 0.01 mm or 1% of the step tells the two apart.
GAP_TOLERANCE_MM = 0.01
GAP_TOLERANCE_RELATIVE = 0.01
# Direction cosines are written rounded too (often to 6 decimals); 1e-3 is 0.06 degree.
COSINE_TOLERANCE = 1e-3

# NIfTI xyz units -> millimetres. "unknown" is read as millimetres, as NIfTI tools
# (nibabel, FSL, ITK) do: the scanner's world is in millimetres.
NIFTI_LENGTH_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}
# At most this many entries along a 4-D NIfTI's fourth axis read as channels.
MAX_NIFTI_CHANNELS = 4


def _missing_extra(package, error):
    return ImportError(
        f"Reading these images needs {package}: pip install 'sk-i2m2[imaging]' "
        f"({error})."
    )


def _import_pydicom():
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut
    except ImportError as error:  # pragma: no cover - the imaging extra is missing
        raise _missing_extra("pydicom>=3.0", error) from error
    return pydicom, apply_modality_lut


def read_dicom_dataset(path):
    """``pydicom.dcmread(path)``, its refusal of a headerless file said for our users.

    pydicom's message suggests ``force=True``, which sk_i2m2's readers do not take;
    the way to read such a file is a reader of one's own.
    """
    pydicom, _ = _import_pydicom()
    try:
        return pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError as error:
        raise ValueError(
            "it is not a DICOM file with its file header (no 'DICM' prefix after the "
            "128-byte preamble). If it holds DICOM data without the header, read it "
            "with your own function, e.g. ImageLoader(reader=lambda path: "
            "pydicom.dcmread(path, force=True).pixel_array)"
        ) from error


def _is_identity_rescale(dataset):
    """Whether the only modality transform is ``RescaleSlope`` 1, ``RescaleIntercept`` 0."""
    if dataset.get("ModalityLUTSequence"):
        return False
    return (float(dataset.get("RescaleSlope", 1) or 1) == 1
            and float(dataset.get("RescaleIntercept", 0) or 0) == 0)


def _invert(pixels):
    """``max + min - pixels`` over the image, in the image's own type."""
    low, high = pixels.min(), pixels.max()
    if np.issubdtype(pixels.dtype, np.integer):
        # int64 arithmetic: ``high + low`` can overflow a 16-bit type, while the
        # result stays within [low, high] and so fits the original type again.
        return (int(high) + int(low) - pixels.astype(np.int64)).astype(pixels.dtype)
    return high + low - pixels


def _looks_like_dicom(path):
    # DICOM files often have no suffix; their 128-byte preamble is followed by "DICM".
    with open(path, "rb") as file:
        file.seek(128)
        return file.read(4) == b"DICM"


def _is_monochrome1(dataset):
    return str(dataset.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1"


def is_nifti(path):
    """Whether ``path`` names a NIfTI file (``.nii`` or ``.nii.gz``)."""
    return Path(path).name.lower().endswith(NIFTI_SUFFIXES)


# ----------------------------------------------------------------- NIfTI


def _nifti_channels_problem(header, n_entries):
    """Why a 4-D NIfTI's fourth axis is not channels, or None when it may be."""
    time_unit = header.get_xyzt_units()[1]
    if time_unit != "unknown":
        return f"its header gives that axis a unit, {time_unit!r} (a time series or spectrum)"
    if header.get_intent()[0] == "time series":
        return "its header's intent says time series"
    if n_entries > MAX_NIFTI_CHANNELS:
        return (f"{n_entries} entries are more than the {MAX_NIFTI_CHANNELS} that read as "
                "channels")
    return None


def _import_nibabel():
    try:
        import nibabel
    except ImportError as error:  # pragma: no cover - the imaging extra is missing
        raise _missing_extra("nibabel>=5", error) from error
    return nibabel


def to_closest_canonical(data, affine):
    """``data`` and its ``affine`` brought to the closest canonical RAS+ voxel order.

    What :func:`nibabel.as_closest_canonical` does, on the array itself: the
    permutation and flips of the voxel axes that bring them closest to RAS+. An
    oblique scan stays oblique: its voxels are reordered, never resampled.

    Parameters
    ----------
    data : ndarray
        Three spatial axes first, in the order ``affine`` indexes them; any further
        axes (channels) are kept as they are.
    affine : ndarray of shape (4, 4)
        Voxel indices to RAS+ world coordinates.

    Returns
    -------
    data : ndarray
        Contiguous, its spatial axes reordered.
    affine : ndarray of shape (4, 4)
        The affine of the reordered voxels.
    """
    _import_nibabel()
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    orientation = io_orientation(affine)
    canonical = affine @ inv_ornt_aff(orientation, data.shape[:3])
    # apply_orientation reorders the first three axes only: channels last stay last.
    return np.ascontiguousarray(apply_orientation(data, orientation)), canonical


def _voxel_sizes(affine):
    """The distance between neighbouring voxels along each axis of ``affine``, in mm."""
    return tuple(float(size) for size in np.linalg.norm(affine[:3, :3], axis=0))


def read_nifti_geometry(path, volume=None):
    """:func:`sk_i2m2.imaging.read_nifti`, with the spacing and the canonical affine.

    Returns
    -------
    data : ndarray
    spacing : tuple of 3 float
        In mm (the header's spatial unit converted).
    affine : ndarray of shape (4, 4)
        The canonical voxel indices to RAS+ world coordinates, in mm.
    """
    nibabel = _import_nibabel()
    image = nibabel.load(path)
    shape = tuple(image.shape)
    # A single volume is often written with trailing axes of length 1 (e.g. X*Y*Z*1).
    ndim = len(shape)
    while ndim > 3 and shape[ndim - 1] == 1:
        ndim -= 1
    if ndim > 4:
        raise ValueError(
            f"the NIfTI file {os.fspath(path)!r} has {ndim} axes (shape {shape}); "
            "read_nifti reads volumes of 3 axes, or 4 with a few channels. Give "
            "ImageLoader(reader=...) a function that picks a volume from it."
        )
    if volume is not None:
        if ndim != 4 or not -shape[3] <= volume < shape[3]:
            raise ValueError(
                f"volume={volume} but the NIfTI file {os.fspath(path)!r} has shape "
                f"{shape}, with {shape[3] if ndim == 4 else 'no'} volumes along its "
                "fourth axis"
            )
        # Sliced on the file's proxy: only that volume of a long series is read.
        data, ndim = np.asanyarray(image.dataobj[:, :, :, volume]), 3
    else:
        if ndim == 4:
            problem = _nifti_channels_problem(image.header, shape[3])
            if problem is not None:
                raise ValueError(
                    f"the NIfTI file {os.fspath(path)!r} holds {shape[3]} volumes along "
                    f"its fourth axis (shape {shape}), which are not channels: {problem}. "
                    "An expert takes one volume: pick one with ImageLoader(reader=...), "
                    "e.g. reader=functools.partial(sk_i2m2.imaging.read_nifti, volume=0)."
                )
        data = np.asanyarray(image.dataobj)
    # Either way scaled as the header's scl_slope and scl_inter say.
    # 2-D files read as volumes one voxel thick, so that every NIfTI comes in RAS+.
    data = data.reshape(shape[:ndim] + (1,) * (3 - ndim))
    if data.dtype.names:  # RGB24 / RGBA32: one field per colour, as channels last
        data = np.stack([data[name] for name in data.dtype.names], axis=-1)
    unit = NIFTI_LENGTH_MM.get(image.header.get_xyzt_units()[0], 1.0)
    # In mm, so that the affine means the same whatever unit the header declares.
    affine = np.diag([unit, unit, unit, 1.0]) @ image.affine
    data, affine = to_closest_canonical(data, affine)
    return data, _voxel_sizes(affine), affine


# ----------------------------------------------------------------- slice geometry


def _normal(orientation):
    """The unit normal of the slice plane: row direction x column direction."""
    row, column = orientation[:3], orientation[3:]
    normal = np.cross(row, column)
    return normal / np.linalg.norm(normal)


def _format(values):
    return "[" + ", ".join(f"{float(value):g}" for value in values) + "]"


def _slice_order(positions, normal, where, names, what):
    """The order of the slices along ``normal``, and their step in mm (None for one).

    Raises when the positions do not make a regular grid: two slices at one place,
    uneven gaps (a slice missing), or slices shifted within their plane from one to
    the next (a sheared stack, e.g. a CT gantry tilt).
    """
    positions = np.asarray(positions, dtype=np.float64)
    distance = positions @ normal
    order = np.argsort(distance, kind="stable")
    if len(order) < 2:
        return order, None
    along = distance[order]
    gaps = np.diff(along)
    same = np.flatnonzero(gaps < GAP_TOLERANCE_MM)
    if same.size:
        first, second = order[same[0]], order[same[0] + 1]
        raise ValueError(
            f"{where}: {names[first]} and {names[second]} are at the same position "
            f"({along[same[0]]:g} mm along the slice normal, ImagePositionPatient "
            f"{_format(positions[first])}): a {what} repeated, or several volumes (time "
            "points, echoes, stacks) in one; give ImageLoader(reader=...) a function "
            f"that picks the {what}s of one volume."
        )
    step = float(np.median(gaps))
    tolerance = max(GAP_TOLERANCE_MM, GAP_TOLERANCE_RELATIVE * step)
    uneven = np.flatnonzero(np.abs(gaps - step) > tolerance)
    if uneven.size:
        at = uneven[0]
        raise ValueError(
            f"{where}: the {what}s are unevenly spaced along the slice normal: "
            f"{names[order[at]]} and {names[order[at + 1]]} are {gaps[at]:g} mm apart "
            f"where the median gap is {step:g} mm (gaps: "
            f"{_format(np.unique(gaps.round(3)))} mm). A {what} is missing, or the "
            f"{what}s mix spacings."
        )
    # Where each slice lies within its plane, relative to the first: constant for a
    # regular grid.
    offsets = positions[order] - np.outer(along, normal)
    shifts = np.linalg.norm(np.diff(offsets, axis=0), axis=1)
    sheared = np.flatnonzero(shifts > tolerance)
    if sheared.size:
        at = sheared[0]
        raise ValueError(
            f"{where}: {names[order[at + 1]]} is shifted {shifts[at]:g} mm within the "
            f"slice plane from {names[order[at]]}: the {what}s do not stack into a "
            "regular grid (a tilted gantry?). Resample the series to a regular grid first."
        )
    return order, (along[-1] - along[0]) / (len(along) - 1)


def _key(value):
    """``value`` made hashable, rounded where it is a list of floats."""
    if value is None or isinstance(value, (str, tuple)):
        return value
    return tuple(np.round(np.asarray(value, dtype=np.float64), 3))


def _check_same(values, where, names, what, describe, close, items="slices"):
    """Raise naming a value that differs from the most common one, if any does.

    The most common value is the reference, so that the message names the odd slice
    out rather than whichever file happens to come first.
    """
    keys = [_key(value) for value in values]
    counts = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    reference = values[keys.index(max(counts, key=counts.get))]
    for name, value in zip(names, values, strict=True):
        if not close(value, reference):
            agree = sum(bool(close(other, reference)) for other in values)
            raise ValueError(
                f"{where}: the {items} differ in {what}: {agree} of {len(values)} have "
                f"{describe(reference)}, but {name} has {describe(value)}."
            )


def _same_cosines(first, second):
    return np.allclose(first, second, rtol=0, atol=COSINE_TOLERANCE)


def _same_spacing(first, second):
    if first is None or second is None:
        return first is second
    return np.allclose(first, second, rtol=1e-3, atol=1e-4)


def _describe_spacing(spacing):
    return "none" if spacing is None else f"{_format(spacing)} mm"


# DICOM's patient coordinates are LPS (x towards the patient's left, y towards the
# back), NIfTI's RAS (x right, y front): the first two world axes change direction.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _stack_affine(positions, order, orientation, pixel_spacing, thickness):
    """The RAS+ affine of slices stacked in ``order``, indexed (slice, row, column).

    ``ImageOrientationPatient`` is the row direction (along which the column index
    grows) then the column direction (along which the row index grows);
    ``PixelSpacing`` is the distance between rows, then between columns. The slice
    axis steps from the first slice's position to the last's in equal steps; a
    single slice steps along the normal by its ``SliceThickness`` (1 mm when
    unknown). Without ``PixelSpacing`` the pixels are taken as 1 mm: the axes'
    directions still hold, their lengths do not (the reader's spacing is then None).
    """
    positions = np.asarray(positions, dtype=np.float64)[order]
    row_direction = np.asarray(orientation[:3], dtype=np.float64)
    column_direction = np.asarray(orientation[3:], dtype=np.float64)
    if len(positions) > 1:
        slice_vector = (positions[-1] - positions[0]) / (len(positions) - 1)
    else:
        slice_vector = _normal(orientation) * (float(thickness) if thickness else 1.0)
    row_spacing, column_spacing = pixel_spacing if pixel_spacing is not None else (1, 1)
    affine = np.eye(4)
    affine[:3, 0] = slice_vector
    affine[:3, 1] = column_direction * float(row_spacing)
    affine[:3, 2] = row_direction * float(column_spacing)
    affine[:3, 3] = positions[0]
    return LPS_TO_RAS @ affine


def _canonical_stack(pixels, affine, known):
    """Stacked slices in RAS+ order, their spacing (None unless ``known``), their affine."""
    pixels, affine = to_closest_canonical(pixels, affine)
    return pixels, _voxel_sizes(affine) if known else None, affine


# ----------------------------------------------------------------- DICOM series


def _float_list(value):
    return None if value is None else [float(item) for item in value]


def read_dicom_series_geometry(folder):
    """:func:`sk_i2m2.imaging.read_dicom_series`, with the spacing and the RAS+ affine.

    Returns
    -------
    volume : ndarray
        In the closest canonical RAS+ voxel order.
    spacing : tuple of 3 float or None
        In mm; None without ``PixelSpacing``, or for a single slice without
        ``SliceThickness``.
    affine : ndarray of shape (4, 4)
        The canonical voxel indices to RAS+ world coordinates, in mm.
    """
    pydicom, apply_modality_lut = _import_pydicom()
    where = f"DICOM series {os.fspath(folder)!r}"
    entries = sorted(os.listdir(folder))
    slices = []
    for name in entries:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue  # subfolders are other series, not slices of this one
        if Path(name).suffix.lower() not in DICOM_SUFFIXES and not _looks_like_dicom(path):
            continue  # a README, a .txt, a .DS_Store
        try:
            dataset = read_dicom_dataset(path)
        except Exception as error:  # a damaged slice is an error, not a skipped file
            raise ValueError(f"{where}: cannot read {name}: {error}") from error
        if "PixelData" not in dataset:
            continue  # a DICOMDIR, a structured report, a presentation state
        slices.append((name, dataset))
    if not slices:
        raise ValueError(
            f"{where}: no DICOM image in the folder ({len(entries)} entries, none a DICOM "
            "file with pixel data)."
        )
    series = {}
    for name, dataset in slices:
        series.setdefault(str(dataset.get("SeriesInstanceUID", "(none)")), []).append(name)
    if len(series) > 1:
        listed = ", ".join(
            f"{uid} ({len(names)} file{'' if len(names) == 1 else 's'})"
            for uid, names in sorted(series.items(), key=lambda entry: -len(entry[1])))
        raise ValueError(
            f"{where}: the folder holds {len(series)} series (SeriesInstanceUID {listed}); "
            "a volume is one series: put each series in its own folder."
        )
    names = [name for name, _ in slices]
    for name, dataset in slices:
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        if frames > 1:
            raise ValueError(
                f"{where}: {name} has {frames} frames; a series folder holds one slice "
                "per file. Read a multi-frame file on its own."
            )
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient"):
            if not dataset.get(keyword):  # absent, or present and empty
                raise ValueError(
                    f"{where}: {name} has no {keyword}, so its place in the volume is "
                    "unknown (slices are never ordered by file name or InstanceNumber)."
                )
    datasets = [dataset for _, dataset in slices]
    orientations = [np.asarray(_float_list(d.ImageOrientationPatient)) for d in datasets]
    _check_same(orientations, where, names, "orientation (ImageOrientationPatient)",
                _format, _same_cosines)
    spacings = [_float_list(d.get("PixelSpacing")) for d in datasets]
    _check_same(spacings, where, names, "pixel spacing (PixelSpacing)", _describe_spacing,
                _same_spacing)
    sizes = [(int(d.Rows), int(d.Columns)) for d in datasets]
    _check_same(sizes, where, names, "size (Rows x Columns)",
                lambda size: f"{size[0]}x{size[1]}", lambda a, b: a == b)
    photometric = [str(d.get("PhotometricInterpretation", "")).strip() for d in datasets]
    _check_same(photometric, where, names, "PhotometricInterpretation", repr,
                lambda a, b: a == b)
    positions = [_float_list(d.ImagePositionPatient) for d in datasets]
    order, step = _slice_order(positions, _normal(orientations[0]), where, names, "slice")
    # One slice: its thickness is the best guess of its extent (_stack_affine).
    thickness = datasets[0].get("SliceThickness")
    known = (step is not None or bool(thickness)) and spacings[0] is not None
    pixels = []
    for index in order:
        dataset = datasets[index]
        image = dataset.pixel_array
        if not _is_identity_rescale(dataset):
            # Per slice: slopes and intercepts may differ from slice to slice (PET, MR).
            image = apply_modality_lut(image, dataset)
        pixels.append(image)
    volume = np.stack(pixels)
    if _is_monochrome1(datasets[0]):
        volume = _invert(volume)  # over the volume: one mapping for every slice
    affine = _stack_affine(positions, order, orientations[0], spacings[0], thickness)
    return _canonical_stack(volume, affine, known)


# ----------------------------------------------------------------- enhanced multi-frame


def _group_item(groups, sequence):
    """The first item of a functional group's ``sequence``, or None."""
    if groups is None:
        return None
    items = groups.get(sequence)
    return items[0] if items else None


def _frame_value(frame, shared, sequence, keyword):
    """``keyword`` of a functional group macro: the frame's own, else the shared one."""
    for groups in (frame, shared):
        item = _group_item(groups, sequence)
        if item is not None and item.get(keyword) is not None:
            return item.get(keyword)
    return None


def enhanced_volume(dataset, path):
    """An enhanced multi-frame DICOM's frames as one volume, its spacing and affine.

    The volume comes in the closest canonical RAS+ voxel order, as a series does
    (:func:`read_dicom_series_geometry`). Returns None when the frames are not
    positioned slices (no per-frame functional groups, or a frame without its own
    ``PlanePositionSequence`` or an orientation): the caller then refuses the file as
    it refuses any other multi-frame file.
    """
    _, apply_modality_lut = _import_pydicom()
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    if not per_frame or len(per_frame) != frames:
        return None
    shared = _group_item(dataset, "SharedFunctionalGroupsSequence")
    positions, orientations = [], []
    for frame in per_frame:
        position = _frame_value(frame, None, "PlanePositionSequence", "ImagePositionPatient")
        orientation = _frame_value(frame, shared, "PlaneOrientationSequence",
                                   "ImageOrientationPatient")
        if position is None or orientation is None:
            return None
        positions.append(_float_list(position))
        orientations.append(np.asarray(_float_list(orientation)))
    where = f"DICOM file {os.fspath(path)!r}"
    names = [f"frame {index + 1}" for index in range(frames)]  # DICOM counts from 1
    _check_same(orientations, where, names, "orientation (ImageOrientationPatient)",
                _format, _same_cosines, "frames")
    spacings = [_float_list(_frame_value(frame, shared, "PixelMeasuresSequence",
                                         "PixelSpacing")) for frame in per_frame]
    _check_same(spacings, where, names, "pixel spacing (PixelSpacing)", _describe_spacing,
                _same_spacing, "frames")
    order, _ = _slice_order(positions, _normal(orientations[0]), where, names, "frame")
    pixels = dataset.pixel_array[order]
    if dataset.get("ModalityLUTSequence"):
        pixels = apply_modality_lut(pixels, dataset)
    else:
        # Enhanced files carry the rescale in a functional group (Pixel Value
        # Transformation), shared or per frame; older writers put it at the top level.
        slopes, intercepts = [], []
        for index in order:
            frame = per_frame[index]
            slope = _frame_value(frame, shared, "PixelValueTransformationSequence",
                                 "RescaleSlope")
            intercept = _frame_value(frame, shared, "PixelValueTransformationSequence",
                                     "RescaleIntercept")
            slopes.append(float(slope if slope is not None
                                else dataset.get("RescaleSlope", 1) or 1))
            intercepts.append(float(intercept if intercept is not None
                                    else dataset.get("RescaleIntercept", 0) or 0))
        slopes, intercepts = np.asarray(slopes), np.asarray(intercepts)
        if (slopes != 1).any() or (intercepts != 0).any():
            axes = (-1,) + (1,) * (pixels.ndim - 1)  # one value per frame, broadcast
            pixels = pixels * slopes.reshape(axes) + intercepts.reshape(axes)
    if _is_monochrome1(dataset):
        pixels = _invert(pixels)
    # Frames at distinct positions (checked above), so the step is known.
    affine = _stack_affine(positions, order, orientations[0], spacings[0], None)
    return _canonical_stack(pixels, affine, spacings[0] is not None)

"""Volumes read from files: NIfTI, DICOM series and enhanced multi-frame DICOM, 3-D .npy.

Every file is written by the test itself, so each expected voxel is known exactly.
"""

import random
import re

import nibabel
import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from pydicom.dataset import FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    generate_uid,
)

from sk_i2m2.imaging import (
    ImageLoader,
    read_dicom,
    read_dicom_series,
    read_image,
    read_nifti,
    read_volume,
)
from sk_i2m2.imaging._files import ImageFiles, LazyImages

from .test_imaging_readers import write_dicom

# Three different sizes, so that a transposed volume cannot pass for the original.
SHAPE = (2, 3, 4)
DATA = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)


def write_nifti(path, data, affine=None, units=None, intent=None, slope=None):
    image = nibabel.Nifti1Image(data, np.eye(4) if affine is None else affine)
    if units is not None:
        image.header.set_xyzt_units(*units)
    if intent is not None:
        image.header.set_intent(intent)
    if slope is not None:
        image.header.set_slope_inter(*slope)
    nibabel.save(image, path)
    return str(path)


def raw(**params):
    """A loader that keeps the values as read."""
    return ImageLoader(intensity=None, **params)


# ----------------------------------------------------------------- NIfTI


# Voxel axis i runs inferior in 2 mm steps, j to the right in 3 mm, k posterior in 4 mm.
PERMUTED = np.array([[0, 3, 0, 10], [0, 0, -4, 20], [-2, 0, 0, 30], [0, 0, 0, 1.0]])


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_nifti_is_read_in_closest_canonical_order(tmp_path, suffix):
    path = write_nifti(tmp_path / f"scan{suffix}", DATA, PERMUTED)
    volume, spacing = read_volume(path)
    # RAS+: X from j (right), Y from k reversed (anterior), Z from i reversed (superior).
    np.testing.assert_array_equal(volume, DATA.transpose(1, 2, 0)[:, ::-1, ::-1])
    assert volume.dtype == np.int16 and spacing == (3.0, 4.0, 2.0)
    np.testing.assert_array_equal(read_image(path), volume)
    np.testing.assert_array_equal(read_nifti(path), volume)
    # Voxel by voxel: each voxel holds the value of the stored voxel at the same place.
    canonical = nibabel.as_closest_canonical(nibabel.load(path)).affine
    for index in np.ndindex(volume.shape):
        world = canonical @ [*index, 1]
        stored = np.linalg.solve(PERMUTED, world)[:3].round().astype(int)
        assert volume[index] == DATA[tuple(stored)]
    np.testing.assert_array_equal(raw().load(path, (1, 3, 4, 2))[0], volume)


def test_a_nifti_scaled_by_its_header_reads_as_floats_in_millimetres(tmp_path):
    affine = np.diag([0.5, 0.5, 1.5, 1])  # in metres: the header says so below
    path = write_nifti(tmp_path / "ct.nii.gz", DATA, affine, units=("meter", "unknown"),
                       slope=(2, -1024))
    volume, spacing = read_volume(path)
    np.testing.assert_array_equal(volume, DATA * 2.0 - 1024)
    assert spacing == (500.0, 500.0, 1500.0)


def test_a_4d_nifti_with_few_entries_and_no_time_reads_as_channels(tmp_path):
    data = np.stack([DATA, DATA + 100], axis=-1)  # (X, Y, Z, 2)
    path = write_nifti(tmp_path / "two.nii", data)
    np.testing.assert_array_equal(read_image(path), data)
    image = raw().load(path, (2, *SHAPE))
    np.testing.assert_array_equal(image, np.moveaxis(data, -1, 0))
    with pytest.raises(ValueError, match=r"the volume has 2 channel\(s\).*asks for 1"):
        raw().load(path, (1, *SHAPE))
    # A single volume written with a fourth axis of 1 is that volume.
    one = write_nifti(tmp_path / "one.nii", DATA[..., None])
    np.testing.assert_array_equal(read_image(one), DATA)


@pytest.mark.parametrize(("entries", "header", "reason"), [
    (3, {"units": ("mm", "sec")}, "a unit, 'sec'"),
    (3, {"intent": "time series"}, "intent says time series"),
    (6, {}, "6 entries are more than the 4"),
])
def test_a_4d_nifti_time_series_is_refused_with_how_to_pick_a_volume(tmp_path, entries,
                                                                     header, reason):
    data = np.stack([DATA + 100 * t for t in range(entries)], axis=-1)
    path = write_nifti(tmp_path / "bold.nii.gz", data, **header)
    with pytest.raises(ValueError, match=rf"{re.escape(path)}.*{entries} volumes.*"
                       rf"{re.escape(reason)}.*read_nifti, volume=0"):
        read_image(path)
    np.testing.assert_array_equal(read_nifti(path, volume=2), DATA + 200)
    np.testing.assert_array_equal(read_nifti(path, volume=-1), data[..., -1])
    with pytest.raises(ValueError, match="volume=9"):
        read_nifti(path, volume=9)


def test_rgb_and_2d_nifti_files_read_as_volumes(tmp_path):
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"], rgb["G"], rgb["B"] = DATA, DATA + 1, DATA + 2
    volume = read_image(write_nifti(tmp_path / "rgb.nii", rgb))
    assert volume.shape == (*SHAPE, 3) and volume.dtype == np.uint8
    np.testing.assert_array_equal(volume[..., 2], DATA + 2)
    flat, spacing = read_volume(write_nifti(tmp_path / "flat.nii", DATA[:, :, 0],
                                            np.diag([1.0, 2.0, 1.0, 1])))
    np.testing.assert_array_equal(flat, DATA[:, :, :1])  # one voxel thick
    assert spacing == (1.0, 2.0, 1.0)


def test_a_nifti_of_five_axes_is_refused(tmp_path):
    path = write_nifti(tmp_path / "field.nii", np.zeros((2, 3, 4, 2, 3), np.float32))
    with pytest.raises(ValueError, match="has 5 axes"):
        read_image(path)


# ----------------------------------------------------------------- DICOM series


# Sagittal slices: along a row (the column index) the patient's back (+y in DICOM's
# LPS), down a column (the row index) their feet (-z); the normal, row x column,
# points to the patient's right (-x in LPS).
SAGITTAL = [0, 1, 0, 0, 0, -1]
ROWS, COLUMNS = 3, 4


def sagittal_to_ras(stack):
    """Slices stacked (slice, row, column), as the reader gives them in RAS+ order.

    X (right) is the slice axis, Y (anterior) the column index reversed, Z
    (superior) the row index reversed.
    """
    return np.ascontiguousarray(np.moveaxis(stack, 2, 1)[:, ::-1, ::-1])


def write_file(path, pixels, sop_class=CTImageStorage, photometric="MONOCHROME2",
               **elements):
    """Save ``pixels`` as an uncompressed DICOM file of ``sop_class``; its path as str."""
    return str(write_dicom(path, pixels, photometric, sop_class, **elements))


def slice_pixels(index):
    """A slice whose every pixel says which slice and where it is."""
    return (1000 * index + np.arange(ROWS * COLUMNS)).reshape(ROWS, COLUMNS).astype(np.uint16)


def write_series(folder, n_slices=5, step=2.5, photometric="MONOCHROME2", changes=None):
    """Slices in spatial order 0..n-1, saved under shuffled names and InstanceNumbers.

    ``changes`` maps a spatial index to the elements that slice gets instead.
    """
    folder.mkdir(exist_ok=True)
    series = generate_uid()
    names = [f"IM{number:04d}.dcm" for number in random.Random(0).sample(range(100), n_slices)]
    for index in range(n_slices):
        elements = {
            "SeriesInstanceUID": series,
            # Misleading on purpose: the reverse of the spatial order.
            "InstanceNumber": n_slices - index,
            # Along the normal (-x in LPS), from a start that is not the origin.
            "ImagePositionPatient": [50.0 - step * index, -20.0, 30.0],
            "ImageOrientationPatient": SAGITTAL,
            "PixelSpacing": [0.7, 0.8],
            "SliceThickness": step,
            "RescaleSlope": 2,
            "RescaleIntercept": -1024,
            **(changes or {}).get(index, {}),
        }
        pixels = elements.pop("pixels", slice_pixels(index))
        write_file(folder / names[index], pixels, photometric=photometric, **elements)
    return folder


def test_a_dicom_series_is_ordered_in_space_not_by_name_or_instance_number(tmp_path):
    folder = write_series(tmp_path / "series")
    (folder / "README.txt").write_text("not a slice")
    directory = pydicom.Dataset()  # a DICOMDIR: DICOM, with no pixel data
    directory.file_meta = FileMetaDataset()
    directory.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    directory.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    directory.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    directory.save_as(folder / "DICOMDIR", enforce_file_format=True)
    stacked = np.stack([slice_pixels(index) * 2.0 - 1024 for index in range(5)])
    expected = sagittal_to_ras(stacked)
    volume, spacing = read_volume(folder)
    np.testing.assert_array_equal(volume, expected)  # Hounsfield units
    # (slice step, column spacing, row spacing): PixelSpacing is (rows, columns).
    assert spacing == pytest.approx((2.5, 0.8, 0.7))
    np.testing.assert_array_equal(read_dicom_series(folder), expected)
    np.testing.assert_array_equal(read_image(str(folder)), expected)
    image = raw().load(folder, (1, 5, COLUMNS, ROWS))
    np.testing.assert_array_equal(image[0], expected)


def test_a_monochrome1_series_is_inverted_over_the_whole_volume(tmp_path):
    folder = write_series(tmp_path / "cr", n_slices=3, photometric="MONOCHROME1")
    hu = sagittal_to_ras(np.stack([slice_pixels(index) * 2.0 - 1024 for index in range(3)]))
    # One mapping for every slice: the volume's max + min, not each slice's.
    np.testing.assert_array_equal(read_image(folder), hu.max() + hu.min() - hu)


@pytest.mark.parametrize(("changes", "n_slices", "message"), [
    ({2: {"SeriesInstanceUID": "1.2.3.4"}}, 5,
     r"holds 2 series \(SeriesInstanceUID [\d.]+ \(4 files\), 1\.2\.3\.4 \(1 file\)\)"),
    ({3: {"ImageOrientationPatient": [1, 0, 0, 0, 1, 0]}}, 5,
     r"differ in orientation \(ImageOrientationPatient\): 4 of 5 have \[0, 1, 0, 0, 0, "
     r"-1\], but IM\d+\.dcm has \[1, 0, 0, 0, 1, 0\]"),
    ({1: {"PixelSpacing": [0.5, 0.5]}}, 5,
     r"differ in pixel spacing \(PixelSpacing\): 4 of 5 have \[0\.7, 0\.8\] mm, but "
     r"IM\d+\.dcm has \[0\.5, 0\.5\] mm"),
    ({4: {"pixels": np.zeros((ROWS, COLUMNS + 1), np.uint16)}}, 5,
     r"differ in size \(Rows x Columns\): 4 of 5 have 3x4, but IM\d+\.dcm has 3x5"),
    ({2: {"ImagePositionPatient": [50.0 - 2.5 * 3, -20.0, 30.0]}}, 5,
     r"IM\d+\.dcm and IM\d+\.dcm are at the same position"),
    # Slice 3 of 0..4 left out: a gap of two steps.
    ({3: {"ImagePositionPatient": [50.0 - 2.5 * 5, -20.0, 30.0]}}, 5,
     r"unevenly spaced.* are 5 mm apart where the median gap is 2\.5 mm.*is missing"),
    ({2: {"ImagePositionPatient": [50.0 - 2.5 * 2, -15.0, 30.0]}}, 5,
     r"shifted 5 mm within the slice plane"),
    ({1: {"ImagePositionPatient": None}}, 3, r"IM\d+\.dcm has no ImagePositionPatient"),
], ids=["two series", "orientation", "spacing", "size", "duplicate", "missing slice",
        "sheared", "no position"])
def test_a_series_that_is_no_regular_volume_is_refused_naming_folder_and_cause(
        tmp_path, changes, n_slices, message):
    folder = write_series(tmp_path / "bad", n_slices=n_slices, changes=changes)
    with pytest.raises(ValueError, match=rf"DICOM series '{re.escape(str(folder))}': "
                                         rf".*{message}"):
        read_image(folder)


def test_a_folder_without_dicom_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no slices here")
    with pytest.raises(ValueError, match=r"no DICOM image in the folder \(1 entries"):
        read_dicom_series(tmp_path)


# ----------------------------------------------------------------- enhanced multi-frame


def item(**elements):
    dataset = pydicom.Dataset()
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    return dataset


def sequence(**elements):
    return pydicom.Sequence([item(**elements)])


def write_enhanced(path, positions, frames, groups_in="shared", **elements):
    """An Enhanced CT file whose frame ``f`` lies at ``positions[f]`` mm along +z."""
    orientation = {"PlaneOrientationSequence": sequence(
        ImageOrientationPatient=[1, 0, 0, 0, 1, 0])}
    measures = {"PixelMeasuresSequence": sequence(PixelSpacing=[0.5, 0.6],
                                                  SliceThickness=1)}
    rescale = {"PixelValueTransformationSequence": sequence(
        RescaleSlope=2, RescaleIntercept=-1024, RescaleType="HU")}
    shared = {**orientation, **measures, **rescale} if groups_in == "shared" else {}
    per_frame = {} if groups_in == "shared" else {**orientation, **measures, **rescale}
    return write_file(
        path, frames, sop_class=EnhancedCTImageStorage,
        SharedFunctionalGroupsSequence=pydicom.Sequence([item(**shared)]),
        PerFrameFunctionalGroupsSequence=pydicom.Sequence([
            item(PlanePositionSequence=sequence(ImagePositionPatient=[0, 0, z]), **per_frame)
            for z in positions]),
        **elements,
    )


@pytest.mark.parametrize("groups_in", ["shared", "per frame"])
def test_an_enhanced_multi_frame_dicom_reads_as_a_volume_in_spatial_order(tmp_path,
                                                                          groups_in):
    positions = [3.0, 0.0, 9.0, 6.0]  # frame order is not spatial order
    frames = np.stack([slice_pixels(index) for index in range(4)])
    path = write_enhanced(tmp_path / "ct.dcm", positions, frames, groups_in)
    volume, spacing = read_volume(path)
    order = np.argsort(positions)
    # Axial frames, rows to the patient's back (+y in LPS) and columns to their left
    # (+x): in RAS+, X is the column index reversed, Y the row index reversed, Z the
    # frames from the feet up.
    stacked = frames[order] * 2.0 - 1024
    np.testing.assert_array_equal(volume, stacked.transpose(2, 1, 0)[::-1, ::-1])
    assert spacing == pytest.approx((0.6, 0.5, 3.0))
    np.testing.assert_array_equal(read_dicom(path), volume)


def test_an_enhanced_file_with_a_frame_missing_is_refused(tmp_path):
    frames = np.stack([slice_pixels(index) for index in range(4)])
    path = write_enhanced(tmp_path / "gap.dcm", [0.0, 3.0, 6.0, 12.0], frames)
    with pytest.raises(ValueError, match=rf"DICOM file '{re.escape(path)}': the frames are "
                                         r"unevenly spaced.*frame 3 and frame 4 are 6 mm"):
        read_image(path)


def test_an_enhanced_file_of_frames_at_one_place_is_refused(tmp_path):
    frames = np.stack([slice_pixels(index) for index in range(3)])  # a cine loop
    path = write_enhanced(tmp_path / "cine.dcm", [5.0, 5.0, 5.0], frames)
    with pytest.raises(ValueError, match=r"frame 1 and frame 2 are at the same position.*"
                                         r"time\s+points.*ImageLoader\(reader=\.\.\.\)"):
        read_image(path)


def test_frames_without_their_own_position_keep_the_multi_frame_error(tmp_path):
    frames = np.stack([slice_pixels(index) for index in range(3)])
    path = write_file(tmp_path / "frames.dcm", frames, sop_class=EnhancedCTImageStorage,
                      PerFrameFunctionalGroupsSequence=pydicom.Sequence(
                          [item(FrameContentSequence=sequence(FrameAcquisitionNumber=n))
                           for n in range(3)]))
    with pytest.raises(ValueError, match=r"has 3 frames.*ImageLoader\(reader=\.\.\.\)"):
        read_image(path)


# ----------------------------------------------------------------- the loader


def test_a_3d_npy_is_a_volume_of_unknown_spacing(tmp_path):
    np.save(tmp_path / "v.npy", DATA)
    assert read_volume(tmp_path / "v.npy")[1] is None
    np.testing.assert_array_equal(raw().load(tmp_path / "v.npy", (1, *SHAPE))[0], DATA)
    # Channels first, as saved, are kept.
    np.save(tmp_path / "c.npy", np.stack([DATA, -DATA]))
    image = raw().load(tmp_path / "c.npy", (2, *SHAPE))
    np.testing.assert_array_equal(image[1], -DATA)


def test_a_volume_of_another_size_is_resampled_trilinearly(tmp_path):
    values = np.random.default_rng(0).normal(size=(4, 5, 6))
    np.save(tmp_path / "v.npy", values)
    image = raw().load(tmp_path / "v.npy", (1, 7, 9, 11))
    trilinear = torch.nn.functional.interpolate(
        torch.from_numpy(values)[None, None], size=(7, 9, 11), mode="trilinear",
        align_corners=False)[0].numpy()
    np.testing.assert_allclose(image, trilinear, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"the volume is 4x5x6 where input_shape asks for "
                                         r"7x9x11; set resize=True"):
        raw(resize=False).load(tmp_path / "v.npy", (1, 7, 9, 11))


def test_shrinking_a_volume_is_antialiased(tmp_path):
    # Voxels alternating -1 and +1: shrunk by 3 on each axis they average to about 0,
    # where sampling every third voxel would keep +-1.
    np.save(tmp_path / "checks.npy", np.indices((12, 12, 12)).sum(0) % 2 * 2.0 - 1)
    image = raw().load(tmp_path / "checks.npy", (1, 4, 4, 4))
    assert np.abs(image).max() < 0.01


def test_spacing_resamples_to_millimetres_then_crops_or_pads(tmp_path):
    # 8 voxels of 2 mm on each axis; air everywhere but one bright voxel.
    volume = np.full((8, 8, 8), -1000, dtype=np.int16)
    volume[5, 2, 3] = 1000
    path = write_nifti(tmp_path / "head.nii.gz", volume, np.diag([2.0, 2.0, 2.0, 1]))
    # At 1 mm: 16 voxels per axis, cropped to 12 (2 off each end), padded to 20 (2 on
    # each side), kept at 16.
    image = raw(spacing=(1, 1, 1)).load(path, (1, 12, 20, 16))[0]
    assert image.shape == (12, 20, 16)
    # Voxel i of 2 mm spans 2i..2i+2 mm: its centre lies between the 1 mm voxels 2i
    # and 2i + 1, each a quarter voxel of 2 mm from it (weight 0.75 per axis).
    peak = -1000 + 2000 * 0.75**3
    np.testing.assert_allclose(image[10 - 2:12 - 2, 4 + 2:6 + 2, 6:8], peak)
    assert np.count_nonzero(image >= peak - 1e-3) == 8
    np.testing.assert_array_equal(image[:, :2], -1000)  # padded with the minimum: air
    np.testing.assert_array_equal(image[:, -2:], -1000)


def test_spacing_falls_back_to_resizing_volumes_of_unknown_spacing(tmp_path):
    np.save(tmp_path / "v.npy", DATA.astype(float))
    loader = raw(spacing=(1, 1, 1))
    assert loader.load(tmp_path / "v.npy", (1, 4, 6, 8)).shape == (1, 4, 6, 8)
    with pytest.raises(ValueError, match=r"spacing is unknown, so spacing= cannot apply"):
        raw(spacing=(1, 1, 1), resize=False).load(tmp_path / "v.npy", (1, 4, 6, 8))


def test_a_reader_can_give_the_spacing(tmp_path):
    np.save(tmp_path / "v.npy", np.ones((4, 4, 4)))

    def reader(path):
        return np.load(path), (2.0, 2.0, 2.0)

    # 4 voxels of 2 mm are 8 of 1 mm, padded to 10: the spacing was applied.
    image = ImageLoader(reader=reader, intensity=None, spacing=(1, 1, 1)).load(
        tmp_path / "v.npy", (1, 10, 8, 8))[0]
    np.testing.assert_array_equal(image[1:9], 1)


@pytest.mark.parametrize("shape", [(1, 5), (1, 1, 5)])
def test_window_clips_to_centre_and_width_and_maps_to_unit_range(tmp_path, shape):
    hu = np.array([-1000.0, -160, 40, 240, 1000]).reshape(shape)
    np.save(tmp_path / "hu.npy", hu)
    for intensity in (None, "unit"):
        image = ImageLoader(window=(40, 400), intensity=intensity).load(
            tmp_path / "hu.npy", (1, *shape))
        np.testing.assert_allclose(image.ravel(), [0, 0, 0.5, 1, 1])


def test_settings_that_fit_no_image_fail_at_fit(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4)))
    X = pd.DataFrame({"scan": [str(tmp_path / "a.npy")]})
    with pytest.raises(ValueError, match="spacing=.* applies to volumes"):
        ImageFiles(ImageLoader(spacing=(1, 1, 1)), (1, 4, 4), "scan").fit(X)
    with pytest.raises(ValueError, match="window must be"):
        ImageFiles(ImageLoader(window=(40, 0)), (1, 4, 4), "scan").fit(X)
    with pytest.raises(ValueError, match="input_shape must be"):
        ImageFiles(ImageLoader(), (1, 2, 4, 4, 4), "scan").fit(X)
    # A volume given a 2-D input_shape: the message says what a volume needs.
    np.save(tmp_path / "v.npy", np.zeros((6, 5, 5)))
    with pytest.raises(ValueError, match="a volume needs an input_shape of 4 axes"):
        ImageLoader().load(tmp_path / "v.npy", (1, 4, 4))


def test_image_files_read_a_column_of_volumes_and_series_folders(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for index, size in enumerate([(6, 7, 8), (8, 8, 8), (10, 9, 8)]):
        paths.append(write_nifti(tmp_path / f"mri{index}.nii.gz",
                                 rng.normal(100 * index, 10, size).astype(np.float32)))
    paths.append(str(write_series(tmp_path / "series")))
    X = pd.DataFrame({"mri": paths})
    images = ImageFiles(ImageLoader(), (1, 8, 8, 8), "mri").fit_transform(X)
    assert isinstance(images, LazyImages) and images.shape == (4, 1, 8, 8, 8)
    values = np.asarray(images)
    assert values.shape == (4, 1, 8, 8, 8) and values.dtype == np.float32
    # Standardised with one mean and one standard deviation over every training voxel.
    np.testing.assert_allclose([values.mean(), values.std()], [0, 1], atol=1e-4)

"""One orientation for every scan: a DICOM volume and its NIfTI read as the same array.

Each test writes one voxel grid twice, as a NIfTI file (nibabel) and as DICOM (a
folder of slices, an enhanced multi-frame file), with the same geometry, and checks
that the readers give the same closest-canonical RAS+ array and spacing.
"""

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.uid import EnhancedCTImageStorage, generate_uid

from sk_i2m2.imaging import ImageLoader, read_volume
from sk_i2m2.imaging._loader import read_volume_geometry

from .test_volume_readers import item, sequence, write_file

# (slices, rows, columns) as stored: three sizes and arange values, so that any
# swapped or mirrored axis shows.
STORED_SHAPE = (4, 5, 6)
STORED = np.arange(np.prod(STORED_SHAPE), dtype=np.uint16).reshape(STORED_SHAPE)
PIXEL_SPACING = (0.7, 0.9)  # between rows, between columns
STEP = 2.5  # between slices
ORIGIN = (-40.5, 12.25, 30.0)  # the first stored slice's ImagePositionPatient (LPS)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def rotated_about_x(vector, degrees):
    angle = np.radians(degrees)
    rotation = np.array([[1, 0, 0],
                         [0, np.cos(angle), -np.sin(angle)],
                         [0, np.sin(angle), np.cos(angle)]])
    # DICOM writes cosines as decimal strings: rounded, as scanners write them.
    return tuple(np.round(rotation @ vector, 6))


# Name -> (row direction, column direction, slice direction), in DICOM's LPS: the
# column index runs along the first, the row index along the second, the stored
# slices along the third.
ACQUISITIONS = {
    # Columns to the patient's left, rows to their back, slices from the feet up.
    "axial": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    # Columns to the right, rows to the front, slices stored from the head down
    # (against the normal, which points up here): every axis mirrored.
    "flipped": ((-1, 0, 0), (0, -1, 0), (0, 0, -1)),
    # Columns to the back, rows to the feet, slices from left to right.
    "sagittal": ((0, 1, 0), (0, 0, -1), (-1, 0, 0)),
    # Columns to the left, rows to the feet, slices from front to back.
    "coronal": ((1, 0, 0), (0, 0, -1), (0, 1, 0)),
    # The axial acquisition tilted by 20 degrees about the left-right axis.
    "oblique": ((1, 0, 0), rotated_about_x((0, 1, 0), 20), rotated_about_x((0, 0, 1), 20)),
}


def geometry(name, n_slices=STORED_SHAPE[0]):
    """The acquisition's RAS+ affine of stored index (slice, row, column), and its DICOM tags.

    Returns
    -------
    affine : ndarray of shape (4, 4)
    orientation : list of 6 float
        ImageOrientationPatient.
    positions : list of list of 3 float
        ImagePositionPatient of each of the ``n_slices`` stored slices.
    """
    row, column, through = (np.asarray(vector, dtype=np.float64)
                            for vector in ACQUISITIONS[name])
    positions = [list(np.round(np.asarray(ORIGIN) + k * STEP * through, 6))
                 for k in range(n_slices)]
    lps = np.eye(4)
    lps[:3, 0] = STEP * through
    lps[:3, 1] = PIXEL_SPACING[0] * column
    lps[:3, 2] = PIXEL_SPACING[1] * row
    lps[:3, 3] = ORIGIN
    return LPS_TO_RAS @ lps, [*row, *column], positions


def write_nifti(path, name, data=STORED):
    affine, _, _ = geometry(name)
    nibabel.save(nibabel.Nifti1Image(data, affine), path)
    return str(path)


def write_dicom_series(folder, name, data=STORED, photometric="MONOCHROME2"):
    """One file per stored slice, named against their spatial order."""
    _, orientation, positions = geometry(name, len(data))
    folder.mkdir()
    series = generate_uid()
    for k, (pixels, position) in enumerate(zip(data, positions, strict=True)):
        write_file(folder / f"IM{len(data) - k:03d}.dcm", pixels,
                   photometric=photometric, SeriesInstanceUID=series,
                   ImagePositionPatient=position, ImageOrientationPatient=orientation,
                   PixelSpacing=list(PIXEL_SPACING), SliceThickness=STEP)
    return folder


def write_enhanced_file(path, name):
    """An Enhanced CT file of the stored slices, frame k at stored slice k."""
    _, orientation, positions = geometry(name)
    shared = item(PlaneOrientationSequence=sequence(ImageOrientationPatient=orientation),
                  PixelMeasuresSequence=sequence(PixelSpacing=list(PIXEL_SPACING),
                                                 SliceThickness=STEP))
    frames = [item(PlanePositionSequence=sequence(ImagePositionPatient=position))
              for position in positions]
    return write_file(path, STORED, sop_class=EnhancedCTImageStorage,
                      SharedFunctionalGroupsSequence=pydicom.Sequence([shared]),
                      PerFrameFunctionalGroupsSequence=pydicom.Sequence(frames))


@pytest.mark.parametrize("name", list(ACQUISITIONS))
def test_a_dicom_series_reads_as_the_nifti_of_the_same_grid(tmp_path, name):
    nifti = write_nifti(tmp_path / "scan.nii.gz", name)
    folder = write_dicom_series(tmp_path / "series", name)
    expected, expected_spacing = read_volume(nifti)
    volume, spacing = read_volume(folder)
    assert volume.shape == expected.shape
    np.testing.assert_array_equal(volume, expected)
    assert spacing == pytest.approx(expected_spacing, abs=1e-5)
    # The affines agree too: the same voxel is at the same place in the patient.
    _, _, affine = read_volume_geometry(folder)
    canonical = nibabel.as_closest_canonical(nibabel.load(nifti)).affine
    np.testing.assert_allclose(affine, canonical, atol=1e-5)
    # And so does what a network sees, resized or resampled to a spacing.
    for loader in (ImageLoader(intensity=None), ImageLoader(intensity=None,
                                                            spacing=(1.0, 1.0, 1.0))):
        np.testing.assert_allclose(loader.load(folder, (1, 6, 7, 8)),
                                   loader.load(nifti, (1, 6, 7, 8)), atol=1e-4)


@pytest.mark.parametrize("name", list(ACQUISITIONS))
def test_an_enhanced_multi_frame_file_reads_as_the_nifti_of_the_same_grid(tmp_path, name):
    nifti = write_nifti(tmp_path / "scan.nii", name)
    path = write_enhanced_file(tmp_path / "scan.dcm", name)
    expected, expected_spacing = read_volume(nifti)
    volume, spacing = read_volume(path)
    np.testing.assert_array_equal(volume, expected)
    assert spacing == pytest.approx(expected_spacing, abs=1e-5)
    canonical = nibabel.as_closest_canonical(nibabel.load(nifti)).affine
    np.testing.assert_allclose(read_volume_geometry(path)[2], canonical, atol=1e-5)


def test_the_axial_series_comes_in_ras_order(tmp_path):
    # Columns run to the left, rows to the back, slices up: X is the column index
    # reversed, Y the row index reversed, Z the slices as stored.
    volume, spacing = read_volume(write_dicom_series(tmp_path / "series", "axial"))
    np.testing.assert_array_equal(volume, STORED.transpose(2, 1, 0)[::-1, ::-1, :])
    assert spacing == pytest.approx((0.9, 0.7, 2.5))


def test_an_oblique_series_is_reordered_not_resampled(tmp_path):
    folder = write_dicom_series(tmp_path / "series", "oblique")
    volume, _, affine = read_volume_geometry(folder)
    # Tilted by 20 degrees, the slice axis still lies closest to Z: the voxels are
    # those stored, and the affine keeps the tilt.
    np.testing.assert_array_equal(volume, STORED.transpose(2, 1, 0)[::-1, ::-1, :])
    np.testing.assert_allclose(np.degrees(np.arccos(affine[2, 2] / STEP)), 20, atol=1e-3)


def test_a_colour_series_keeps_its_channels_last(tmp_path):
    rgb = np.stack([STORED, STORED + 60, STORED + 120], axis=-1).astype(np.uint8)
    volume = read_volume(write_dicom_series(tmp_path / "rgb", "sagittal", rgb, "RGB"))[0]
    grey = read_volume(write_dicom_series(tmp_path / "grey", "sagittal",
                                          rgb[..., 1].copy()))[0]
    assert volume.shape == (*grey.shape, 3)
    np.testing.assert_array_equal(volume[..., 1], grey)


def test_a_single_slice_series_extends_along_its_normal_by_its_thickness(tmp_path):
    folder = write_dicom_series(tmp_path / "one", "coronal", STORED[:1])
    volume, spacing, affine = read_volume_geometry(folder)
    # Coronal: X the column index reversed, Y the slice (towards the front, against
    # the stored direction), Z the row index reversed.
    np.testing.assert_array_equal(volume, STORED[:1].transpose(2, 0, 1)[::-1, :, ::-1])
    assert spacing == pytest.approx((0.9, 2.5, 0.7))
    np.testing.assert_allclose(affine[:3, 3], geometry("coronal")[0][:3, :3]
                               @ [0, 4, 5] + geometry("coronal")[0][:3, 3])

"""save_like: maps of an expert's input_shape written back on the scan's grid."""

import nibabel
import numpy as np
import pytest
from PIL import Image

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_volume_scans
from sk_i2m2.imaging import ImageLoader, read_volume, save_like

from .conftest import SINGLE
from .test_imaging_readers import write_dicom
from .test_orientation import write_dicom_series

INPUT_SHAPE = (1, 16, 16, 16)
# Stored axes mirrored and permuted, voxels of three sizes: the reader reorients.
AFFINE = np.array([[0, -1.5, 0, 20.0], [0, 0, 2.0, -30.0], [-1.2, 0, 0, 15.0],
                   [0, 0, 0, 1]])


def smooth(shape):
    """A blob off centre on a slope: smooth, and different along every axis."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    centre = np.array([0.3, -0.2, 0.1]).reshape(3, 1, 1, 1)
    blob = np.exp(-((grid - centre) ** 2).sum(0) / 0.3)
    return 1000 * blob + 200 * grid[0] + 100 * grid[1] + 500


def write_reference(path, data, affine=AFFINE):
    nibabel.save(nibabel.Nifti1Image(data.astype(np.float32), affine), path)
    return str(path)


def correlation(first, second):
    return np.corrcoef(np.ravel(first), np.ravel(second))[0, 1]


def test_a_resized_map_returns_to_the_nifti_reference_grid(tmp_path):
    reference = write_reference(tmp_path / "scan.nii.gz", smooth((22, 19, 26)))
    loaded = ImageLoader(intensity=None).load(reference, INPUT_SHAPE)
    out = save_like(loaded, reference, tmp_path / "map.nii.gz")
    assert out == str(tmp_path / "map.nii.gz")
    saved = nibabel.load(out)
    canonical = nibabel.as_closest_canonical(nibabel.load(reference))
    np.testing.assert_allclose(saved.affine, canonical.affine)
    assert saved.shape == canonical.shape
    assert saved.header.get_xyzt_units()[0] == "mm"
    assert correlation(saved.get_fdata(), canonical.get_fdata()) > 0.99


def test_a_resized_map_returns_to_the_dicom_series_grid(tmp_path):
    stored = smooth((12, 20, 18)).astype(np.uint16)  # (slice, row, column)
    folder = write_dicom_series(tmp_path / "series", "oblique", stored)
    loaded = ImageLoader(intensity=None).load(folder, INPUT_SHAPE)
    saved = nibabel.load(save_like(loaded, folder, tmp_path / "map.nii"))
    # The same grid written as NIfTI: the map lies on its canonical grid.
    from .test_orientation import write_nifti

    twin = nibabel.as_closest_canonical(nibabel.load(
        write_nifti(tmp_path / "twin.nii", "oblique", stored)))
    np.testing.assert_allclose(saved.affine, twin.affine, atol=1e-5)
    assert saved.shape == twin.shape == read_volume(folder)[0].shape
    assert correlation(saved.get_fdata(), read_volume(folder)[0]) > 0.99


def test_a_map_of_a_resampled_and_cropped_volume_lies_where_the_loader_took_it(tmp_path):
    # 20 x 24 x 8 voxels of 1.5 x 2 x 1.2 mm (in RAS+ order, after reorientation);
    # at 1.8 mm: 16 x 26 x 5 voxels, kept along X, cropped to 16 along Y, padded
    # along Z.
    bright = (2, 7, 12)  # a stored voxel, within the field the loader keeps
    data = np.zeros((8, 20, 24))
    data[bright] = 1000
    reference = write_reference(tmp_path / "scan.nii", data)
    loader = ImageLoader(intensity=None, spacing=(1.8, 1.8, 1.8))
    loaded = loader.load(reference, INPUT_SHAPE)
    marked = np.zeros(INPUT_SHAPE)
    marked[(0, *np.unravel_index(loaded.argmax(), INPUT_SHAPE[1:]))] = 1
    saved = nibabel.load(save_like(marked, reference, tmp_path / "map.nii", loader))
    canonical = nibabel.as_closest_canonical(nibabel.load(reference))
    assert saved.shape == canonical.shape
    # The map's peak is, in the patient, where the loader's marked voxel came from.
    peak = np.unravel_index(saved.get_fdata().argmax(), saved.shape)
    source = AFFINE @ [*bright, 1]
    difference = np.abs(saved.affine @ [*peak, 1] - source)[:3]
    assert (difference <= np.abs(canonical.header.get_zooms()) + 1e-6).all()
    # What the crop cut away, the network never saw: 0 there.
    seen = nibabel.load(save_like(np.ones(INPUT_SHAPE), reference,
                                  tmp_path / "seen.nii", loader)).get_fdata()
    assert seen.shape == (20, 24, 8)
    np.testing.assert_array_equal(seen[:, :2], 0)  # Y: 48 mm, of which 28.8 were seen
    np.testing.assert_array_equal(seen[:, -2:], 0)
    np.testing.assert_allclose(seen[:, 9:15], 1)
    np.testing.assert_allclose(seen[:, 12, :], 1)  # X kept and Z padded: all seen


def test_channels_are_written_last_and_one_channel_as_a_volume(tmp_path):
    reference = write_reference(tmp_path / "scan.nii", smooth((10, 12, 14)))
    two = np.stack([np.zeros((10, 12, 14)), np.ones((10, 12, 14))])
    saved = nibabel.load(save_like(two, reference, tmp_path / "two.nii.gz"))
    canonical = nibabel.as_closest_canonical(nibabel.load(reference))
    assert saved.shape == (*canonical.shape, 2)
    np.testing.assert_allclose(saved.get_fdata()[..., 1], 1)
    single = nibabel.load(save_like(np.ones((1, 8, 8, 8)), reference, tmp_path / "one.nii"))
    assert single.shape == canonical.shape
    # Without the channel axis, as (D, H, W).
    assert nibabel.load(save_like(np.ones((8, 8, 8)), reference,
                                  tmp_path / "three.nii")).shape == canonical.shape


def test_the_loader_resolves_a_relative_reference(tmp_path):
    write_reference(tmp_path / "scan.nii", smooth((10, 12, 14)))
    out = save_like(np.ones((8, 8, 8)), "scan.nii", tmp_path / "map.nii",
                    ImageLoader(root=tmp_path))
    assert nibabel.load(out).shape == (12, 14, 10)


def test_refusals(tmp_path):
    reference = write_reference(tmp_path / "scan.nii", smooth((10, 12, 14)))
    ones = np.ones(INPUT_SHAPE)
    with pytest.raises(ValueError, match=r"must end in \.nii or \.nii\.gz.*map\.png"):
        save_like(ones, reference, tmp_path / "map.png")
    with pytest.raises(ValueError, match=r"the map is NaN: the row lacks the modality"):
        save_like(np.full(INPUT_SHAPE, np.nan), reference, tmp_path / "map.nii")
    partly = ones.copy()
    partly[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        save_like(partly, reference, tmp_path / "map.nii")
    with pytest.raises(ValueError, match=r"one volume's map.*several rows\? pass one map"):
        save_like(ones[None], reference, tmp_path / "map.nii")
    np.save(tmp_path / "scan.npy", np.ones((10, 12, 14)))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "photo.png")
    flat = write_dicom(tmp_path / "one.dcm", np.zeros((4, 5), np.uint16))
    for path in (tmp_path / "scan.npy", tmp_path / "photo.png", flat):
        with pytest.raises(ValueError, match="save_like needs a NIfTI or DICOM reference"):
            save_like(ones, path, tmp_path / "map.nii")
    (tmp_path / "notes.txt").write_text("not a scan")
    with pytest.raises(ValueError, match=r"cannot read the reference.*unknown image file"):
        save_like(ones, tmp_path / "notes.txt", tmp_path / "map.nii")
    assert not (tmp_path / "map.nii").exists()


def test_a_fitted_estimators_attribution_maps_go_back_on_the_scans(tmp_path):
    X, y, modalities = make_volume_scans(tmp_path / "scans", n_samples=24, size=8,
                                         random_state=0)
    clf = I2M2Classifier(modalities, max_epochs=2, batch_size=16, random_state=0,
                         **SINGLE).fit(X, y)
    maps = clf.attribution_maps(X.iloc[:2], "scan", steps=4)
    assert maps.shape == (2, 1, 8, 8, 8)
    out = save_like(maps[0], X["scan"].iloc[0], tmp_path / "map.nii.gz",
                    clf.get_params()["scan__loader"])
    saved = nibabel.load(out)
    canonical = nibabel.as_closest_canonical(nibabel.load(X["scan"].iloc[0]))
    np.testing.assert_allclose(saved.affine, canonical.affine)
    # Same size: the map is the scan's grid already, voxel for voxel.
    np.testing.assert_allclose(saved.get_fdata(), maps[0, 0], rtol=1e-6, atol=1e-9)

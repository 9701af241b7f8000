"""The file readers: DICOM modality transforms and photometry, photo orientation.

Every file is written by the test itself, so each expected value is known exactly.
"""

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from sk_i2m2.imaging import ImageLoader, read_image

# 2x3, not square, so that a transposed or rotated image cannot pass for the original.
STORED = np.array([[0, 24, 1024], [1064, 2024, 3000]], dtype=np.uint16)


def write_dicom(path, pixels, photometric="MONOCHROME2", sop_class=CTImageStorage,
                **elements):
    """Save ``pixels`` as an uncompressed DICOM file (CT by default), with ``elements``."""
    dataset = pydicom.Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = sop_class
    dataset.SOPClassUID = sop_class
    dataset.Modality = "CT"
    # Sets Rows, Columns, SamplesPerPixel, Bits*, PixelRepresentation, NumberOfFrames
    # and the SOP Instance UID from the array, consistently with the pixel bytes.
    dataset.set_pixel_data(pixels, photometric, pixels.itemsize * 8)
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path, enforce_file_format=True)
    return path


def modality_lut(first_stored_value, data):
    """A Modality LUT Sequence mapping stored values from ``first_stored_value`` on."""
    lut = pydicom.Dataset()
    # Both elements have an ambiguous VR ("US or SS", "US or OW"); US is what pydicom
    # can write from a list of ints. The descriptor: entries, first value, bit depth.
    lut.add_new("LUTDescriptor", "US", [len(data), first_stored_value, 16])
    lut.add_new("LUTData", "US", list(data))
    lut.ModalityLUTType = "US"  # unspecified units
    return pydicom.Sequence([lut])


def load_raw(path, shape):
    """What an expert sees, with no intensity scaling."""
    return ImageLoader(intensity=None).load(path, shape)


# ----------------------------------------------------------------- DICOM


def test_dicom_rescale_gives_modality_units(tmp_path):
    path = write_dicom(tmp_path / "ct.dcm", STORED, RescaleSlope=0.5,
                       RescaleIntercept=-1024, RescaleType="HU")
    expected = STORED * 0.5 - 1024  # Hounsfield units: air -1024, water 0
    image = read_image(path)
    assert image.dtype == np.float64
    np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(load_raw(path, (1, 2, 3)), expected[None])


def test_an_identity_rescale_keeps_the_stored_integers(tmp_path):
    path = write_dicom(tmp_path / "mr.dcm", STORED, RescaleSlope=1, RescaleIntercept=0)
    image = read_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, STORED)
    # As for a file without a rescale, "unit" divides by the stored type's maximum.
    unit = ImageLoader(intensity="unit").load(path, (1, 2, 3))
    np.testing.assert_allclose(unit, STORED[None] / 65535, rtol=1e-6)


def test_dicom_modality_lut_sequence_maps_the_stored_values(tmp_path):
    stored = np.array([[0, 9, 10], [11, 12, 50]], dtype=np.uint16)
    # The table starts at stored value 10; values below it take the first entry and
    # values past its end the last (DICOM PS3.3 C.11.1.1).
    path = write_dicom(tmp_path / "lut.dcm", stored,
                       ModalityLUTSequence=modality_lut(10, [100, 200, 4000]))
    assert "ModalityLUTSequence" in pydicom.dcmread(path)
    expected = np.array([[100, 100, 100], [200, 4000, 4000]])
    np.testing.assert_array_equal(read_image(path), expected)
    np.testing.assert_array_equal(load_raw(path, (1, 2, 3)), expected[None])


def test_monochrome1_is_inverted_so_that_higher_is_brighter(tmp_path):
    path = write_dicom(tmp_path / "cr.dcm", STORED, photometric="MONOCHROME1")
    expected = 3000 + 0 - STORED.astype(np.int64)  # max + min - pixels
    image = read_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(load_raw(path, (1, 2, 3)), expected[None])


def test_monochrome1_inversion_of_a_full_16_bit_range_keeps_its_values(tmp_path):
    stored = np.array([[0, 1, 65535], [30000, 65534, 2]], dtype=np.uint16)
    path = write_dicom(tmp_path / "full.dcm", stored, photometric="MONOCHROME1")
    np.testing.assert_array_equal(read_image(path), 65535 - stored.astype(np.int64))


def test_monochrome1_is_inverted_after_the_modality_lut(tmp_path):
    stored = np.array([[0, 10, 11], [12, 11, 10]], dtype=np.uint16)
    # Not linear: inverting the stored values before the LUT would give other values.
    path = write_dicom(tmp_path / "lut1.dcm", stored, photometric="MONOCHROME1",
                       ModalityLUTSequence=modality_lut(10, [0, 10, 1000]))
    mapped = np.array([[0, 0, 10], [1000, 10, 0]])
    np.testing.assert_array_equal(read_image(path), 1000 - mapped)


def test_a_multi_frame_dicom_is_refused_with_what_to_do(tmp_path):
    frames = np.stack([STORED, STORED + 1, STORED + 2])
    path = write_dicom(tmp_path / "cine.dcm", frames)
    assert pydicom.dcmread(path).NumberOfFrames == 3
    with pytest.raises(ValueError, match=r"has 3 frames.*ImageLoader\(reader=\.\.\.\)"):
        read_image(path)
    with pytest.raises(ValueError, match="has 3 frames"):
        load_raw(path, (1, 2, 3))

    # The way out the message names: a reader that picks a frame.
    def second_frame(path):
        return pydicom.pixels.pixel_array(path, index=1)

    image = ImageLoader(reader=second_frame, intensity=None).load(path, (1, 2, 3))
    np.testing.assert_array_equal(image, frames[1][None])


def test_a_colour_dicom_reads_as_height_width_channels(tmp_path):
    rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 10
    path = write_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB")
    image = read_image(path)
    assert image.shape == (2, 3, 3)
    np.testing.assert_array_equal(image, rgb)
    np.testing.assert_array_equal(load_raw(path, (3, 2, 3)), np.moveaxis(rgb, -1, 0))


# ----------------------------------------------------------------- photos


# EXIF Orientation -> what a viewer does to the stored pixels to show them upright.
ORIENTATIONS = {
    1: lambda image: image,
    2: lambda image: image[:, ::-1],  # mirrored left-right
    3: lambda image: np.rot90(image, 2),
    5: lambda image: image.T,  # mirrored about the main diagonal
    6: lambda image: np.rot90(image, -1),  # turned 90 degrees clockwise
    8: lambda image: np.rot90(image, 1),  # turned 90 degrees counter-clockwise
}


def save_with_orientation(path, pixels, orientation, **options):
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation  # the EXIF Orientation tag
    image.save(path, exif=exif, **options)
    return path


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_a_png_is_turned_upright_as_its_exif_orientation_says(tmp_path, orientation):
    stored = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    path = save_with_orientation(tmp_path / "photo.png", stored, orientation)
    expected = ORIENTATIONS[orientation](stored)
    image = read_image(path)
    assert image.shape == expected.shape
    np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(load_raw(path, (1, *expected.shape)), expected[None])


def test_a_sideways_jpeg_photo_comes_out_upright(tmp_path):
    # Stored 16 high and 32 wide, dark left half, bright right half; orientation 6
    # (camera turned) shows it 32 high and 16 wide, with the bright half at the bottom.
    stored = np.zeros((16, 32, 3), dtype=np.uint8)
    stored[:, 16:] = 255
    path = save_with_orientation(tmp_path / "photo.jpg", stored, 6, quality=95)
    image = read_image(path)
    assert image.shape == (32, 16, 3)
    assert image[:14].mean() < 20 and image[18:].mean() > 235
    grey = load_raw(path, (1, 32, 16))
    assert grey[0, :14].mean() < 20 and grey[0, 18:].mean() > 235

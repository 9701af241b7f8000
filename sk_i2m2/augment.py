"""Training-time augmentation of image and volume modalities.

An image expert given ``augment`` (e.g. ``CNNExpert(input_shape=(1, 32, 32, 32),
augment="light")``) sees each training batch of its modality randomly transformed,
a new draw every step, so that a few hundred scans look like many more. Validation
batches, prediction and the temperature fit see the images as they are.

``augment`` is a preset name (:data:`PRESETS`) or a callable that takes the training
batch of the modality, a float tensor ``(N, C, *spatial)``, and returns a tensor of
the same shape. The presets are :class:`RandomAffine` instances that transform the
whole batch at once: one random affine map per image (rotation, scale, translation
and, in ``"flips"``, mirror images), folded into one ``affine_grid`` +
``grid_sample`` over the batch, then a random gain and offset of the intensities
per image. It runs where the batch is (on the GPU when training there), in 2D and
3D alike, and draws from a generator of its own seeded by the fit's
``random_state``, so that two fits with the same seed are identical.

MONAI's and TorchIO's random transforms serve the same purpose one image at a time
(a Python loop per batch, on the CPU for TorchIO), and importing MONAI takes several
seconds, TorchIO brings SimpleITK (about 260 MB); a batch-level affine is a few
lines of torch. A callable is the way to use theirs: it is called on the training
batch inside the fit, whose torch random state is seeded by ``random_state``.
"""

import math
from numbers import Real

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from torch.nn import functional as F

__all__ = ["PRESETS", "RandomAffine", "make_augmenter"]


class RandomAffine(BaseEstimator):
    """Random affine maps and intensity jitter, one draw per image of a batch.

    Parameters
    ----------
    rotate : float, default=10
        Largest rotation in degrees, drawn uniformly in ``[-rotate, rotate]`` (in 3D
        about each axis in turn).
    scale : float, default=0.1
        Largest relative zoom, drawn in ``[1 - scale, 1 + scale]`` per image.
    translate : float, default=0.05
        Largest shift, as a fraction of the image's size along each axis.
    flip : bool, default=False
        Mirror each spatial axis with probability 1/2. Off in ``"light"``: left and
        right are not interchangeable in most anatomy, nor in text or digits.
    gain : float, default=0.1
        Intensities are multiplied by a factor drawn in ``[1 - gain, 1 + gain]``
        per image and channel ...
    offset : float, default=0.1
        ... then shifted by an amount drawn in ``[-offset, offset]`` (inputs are
        standardised, so this is in standard deviations).

    Notes
    -----
    The image is resampled bilinearly (trilinearly for volumes); points that fall
    outside it take the value of the nearest border voxel.
    """

    _parameter_constraints = {
        "rotate": [Interval(Real, 0, 180, closed="both")],
        "scale": [Interval(Real, 0, 1, closed="left")],
        "translate": [Interval(Real, 0, 1, closed="both")],
        "flip": ["boolean"],
        "gain": [Interval(Real, 0, 1, closed="left")],
        "offset": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, rotate=10.0, scale=0.1, translate=0.05, flip=False, gain=0.1,
                 offset=0.1):
        self.rotate = rotate
        self.scale = scale
        self.translate = translate
        self.flip = flip
        self.gain = gain
        self.offset = offset

    def _uniform(self, shape, bound, generator):
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    def _rotation(self, n_images, n_spatial, generator):
        """``(N, d, d)`` random rotations: about the one axis in 2D, each axis in 3D."""
        planes = [(0, 1)] if n_spatial == 2 else [(0, 1), (0, 2), (1, 2)]
        rotation = torch.eye(n_spatial, dtype=torch.float64).repeat(n_images, 1, 1)
        for i, j in planes:
            angle = self._uniform(n_images, math.radians(self.rotate), generator)
            turn = torch.eye(n_spatial, dtype=torch.float64).repeat(n_images, 1, 1)
            turn[:, i, i], turn[:, j, j] = angle.cos(), angle.cos()
            turn[:, i, j], turn[:, j, i] = -angle.sin(), angle.sin()
            rotation = turn @ rotation
        return rotation

    def draw(self, n_images, n_channels, n_spatial, generator=None):
        """The random parameters of one batch: ``(theta, gain, offset)``.

        ``theta`` is ``(N, d, d + 1)`` in ``affine_grid``'s normalised coordinates;
        ``gain`` and ``offset`` are ``(N, C)``. Drawn in float64 on the CPU, so that
        the same generator gives the same batch on any device.
        """
        matrix = self._rotation(n_images, n_spatial, generator)
        zoom = 1 + self._uniform((n_images, 1, 1), self.scale, generator)
        matrix = matrix / zoom  # sampling a grid shrunk by ``zoom`` enlarges the image
        if self.flip:
            signs = torch.where(torch.rand((n_images, 1, n_spatial), generator=generator) < 0.5,
                                -1.0, 1.0).to(torch.float64)
            matrix = matrix * signs  # mirrors the chosen axes of the sampled grid
        # Normalised coordinates span [-1, 1]: a shift of ``translate`` of the size is
        # 2 * translate.
        shift = self._uniform((n_images, n_spatial, 1), 2 * self.translate, generator)
        theta = torch.cat([matrix, shift], dim=2)
        gain = 1 + self._uniform((n_images, n_channels), self.gain, generator)
        offset = self._uniform((n_images, n_channels), self.offset, generator)
        return theta, gain, offset

    def __call__(self, images, generator=None):
        """Transform ``images`` ``(N, C, *spatial)`` (2 or 3 spatial axes)."""
        n_images, n_channels, *spatial = images.shape
        if len(spatial) not in (2, 3):
            raise ValueError(
                f"RandomAffine transforms images (N, C, H, W) or volumes (N, C, D, H, W), "
                f"got a batch of shape {tuple(images.shape)}.")
        theta, gain, offset = self.draw(n_images, n_channels, len(spatial), generator)
        # affine_grid orders the coordinates x, y(, z): the last axis first. Reverse
        # the spatial axes of the map so that rows and columns mean axes of the array.
        order = list(range(len(spatial)))[::-1]
        theta = torch.cat([theta[:, order][:, :, order], theta[:, order, -1:]], dim=2)
        theta = theta.to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                              align_corners=False)
        view = (n_images, n_channels) + (1,) * len(spatial)
        return (moved * gain.to(images.device, images.dtype).view(view)
                + offset.to(images.device, images.dtype).view(view))


#: The named presets of ``augment``: ``"light"`` (rotations up to 10°, zoom and
#: gain up to 10 %, shifts up to 5 % of the size, offsets up to 0.1 standard
#: deviation) and ``"flips"`` (the same, each axis also mirrored with probability
#: 1/2).
PRESETS = {
    "light": RandomAffine(),
    "flips": RandomAffine(flip=True),
}

#: The ``_parameter_constraints`` entry of an expert's ``augment``.
AUGMENT_CONSTRAINT = [None, StrOptions(set(PRESETS)), callable]


class _Augmenter:
    """Apply one expert's ``augment`` to the training batches of its modality.

    Parameters
    ----------
    augment : str or callable
        A preset name or a callable on ``(N, C, *spatial)`` float tensors.
    sample_shape : tuple of int
        ``(C, *spatial)`` of one image: batches may travel flattened.
    modality : str
        For error messages.
    """

    def __init__(self, augment, sample_shape, modality):
        self.augment = augment
        self.sample_shape = tuple(int(size) for size in sample_shape)
        self.modality = modality

    def __call__(self, values, generator):
        """``values`` ``(N, ...)`` with every present row transformed; NaN rows kept."""
        present = ~torch.isnan(values.reshape(len(values), -1)[:, 0])
        if not present.any():
            return values
        images = values[present].reshape(-1, *self.sample_shape)
        if isinstance(self.augment, str):
            moved = PRESETS[self.augment](images, generator)
        else:
            moved = self.augment(images)
            if not isinstance(moved, torch.Tensor) or moved.shape != images.shape:
                raise ValueError(
                    f"Modality {self.modality!r}: augment={self.augment!r} must return a "
                    f"tensor of the batch's shape {tuple(images.shape)}, got "
                    f"{getattr(moved, 'shape', type(moved).__name__)}.")
        out = values.clone()
        out[present] = moved.to(values.dtype).reshape(-1, *values.shape[1:])
        return out


def make_augmenter(augment, sample_shape, modality):
    """The augmenter of an expert's ``augment`` (None: no augmentation).

    Parameters
    ----------
    augment : None, str or callable
    sample_shape : tuple of int
        ``(C, *spatial)`` of one input.
    modality : str
    """
    if augment is None:
        return None
    if isinstance(augment, str) and len(sample_shape) not in (3, 4):
        raise ValueError(
            f"Modality {modality!r}: augment={augment!r} transforms images (C, H, W) "
            f"and volumes (C, D, H, W); this expert's inputs are shaped {sample_shape}.")
    return _Augmenter(augment, sample_shape, modality)

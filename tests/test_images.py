"""fmtutor.images: digit vectors as images, the bundled digits and the digit-classifier score."""

import torch

from fmtutor import images as I
from fmtutor.data import load_digits


def test_to_images_and_tile_images_follow_the_row_major_formula():
    x = torch.randn(6, 64, generator=torch.Generator().manual_seed(0))
    imgs = I.to_images(x)
    i, j = 3, 6
    assert torch.equal(imgs[:, i, j], x[:, 8 * i + j])
    rows, cols = 2, 3
    m = I.tile_images(x, rows, cols)
    for r in range(rows):
        for c in range(cols):
            assert torch.equal(m[8 * r + i, 8 * c + j], x[r * cols + c, 8 * i + j])


def test_digits_match_sklearn_scaling(digit_split):
    from sklearn.datasets import load_digits as sk

    d = sk()
    x, y = load_digits()
    assert torch.allclose(I.to_images(x), torch.as_tensor(d.images, dtype=torch.float32) / 8 - 1)
    assert len(digit_split.x_train) + len(digit_split.x_test) == len(x) == 1797
    assert float(digit_split.x_train.min()) == -1.0 and float(digit_split.x_train.max()) == 1.0


def test_classifier_is_accurate_on_held_out_digits_and_at_chance_on_noise(
    digit_split, digit_classifier
):
    assert digit_classifier.accuracy(digit_split.x_test, digit_split.y_test) > 0.93
    per = digit_classifier.per_class_accuracy(digit_split.x_test, digit_split.y_test)
    assert per.shape == (10,) and per.min() > 0.8
    noise = torch.rand(2000, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    asked = torch.arange(10).repeat(200)
    assert 0.04 < digit_classifier.accuracy(noise, asked) < 0.16, (
        "noise should be read as the requested digit about 1 time in 10"
    )


def test_sample_quality_separates_real_digits_from_noise(digit_split, digit_classifier):
    real = I.sample_quality(
        digit_split.x_test, digit_split.y_test, digit_classifier, digit_split.x_train
    )
    noise = torch.randn(397, 64, generator=torch.Generator().manual_seed(2))
    fake = I.sample_quality(noise, digit_split.y_test, digit_classifier, digit_split.x_train)
    assert real["accuracy"] > 0.93 and fake["accuracy"] < 0.25
    assert real["sliced_w2"] < 0.1 < fake["sliced_w2"]
    assert real["nn_distance"] < 0.5 * fake["nn_distance"]

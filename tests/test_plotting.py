import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vae_utils.plotting import latent_scatter, show_images  # noqa: E402


def test_show_images_checks_nrow():
    """Defect 8: show_images(nrow=0) failed inside numpy (division by zero)."""
    x = torch.rand(5, 1, 28, 28)
    for nrow in (0, -1, 2.5):
        with pytest.raises(ValueError, match=r"^nrow must be a positive integer"):
            show_images(x, nrow=nrow)
    show_images(x, nrow=np.int64(2))  # any integer type
    plt.close("all")


def test_latent_scatter_refuses_labels_it_cannot_colour():
    """Defect 8: labels ≥ 10 were silently left out of the picture."""
    z = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"labels must be digit classes 0–9, but 1 of 4 are not \(e\.g\. 12\)"):
        latent_scatter(z, torch.tensor([0, 1, 12, 3]))
    with pytest.raises(ValueError, match=r"labels must be digit classes"):
        latent_scatter(z, torch.tensor([0, 1, -1, 3]))
    ax = latent_scatter(z, np.array([0, 1, 9, 3]))
    assert sum(len(c.get_offsets()) for c in ax.collections) == 4  # every point drawn
    plt.close("all")


def test_latent_scatter_draws_classes_interleaved_so_none_hides_another():
    """Lesson 6: drawn class after class, the 5s covered the 0s where the two overlap."""
    from matplotlib.colors import to_rgba

    from vae_utils.plotting import DIGIT_COLORS

    labels = torch.tensor([0] * 200 + [5] * 200)
    z = torch.randn(400, 2) * 0.1                       # both classes on the same spot
    ax = latent_scatter(z, labels)
    (points,) = ax.collections
    offsets, colours = points.get_offsets(), points.get_facecolors()
    assert len(offsets) == 400
    drawn = np.array([0 if np.allclose(c[:3], to_rgba(DIGIT_COLORS[0])[:3]) else 5 for c in colours])
    # each drawn point keeps its own colour: match offsets back to the codes
    idx = [int(np.argmin(((z.numpy() - o) ** 2).sum(1))) for o in offsets]
    assert (drawn == labels.numpy()[idx]).all()
    assert sorted(idx) == list(range(400))
    # the points drawn last (on top) are of both classes, in about equal numbers
    top = drawn[-100:]
    assert 30 < (top == 0).sum() < 70
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(c) for c in range(10)]
    # deterministic: the same seed gives the same order
    again = latent_scatter(z, labels).collections[0].get_offsets()
    assert np.array_equal(np.asarray(again), np.asarray(offsets))
    plt.close("all")

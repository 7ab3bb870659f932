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

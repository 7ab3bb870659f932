import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vae_utils.widgets import draw_gaussian, gaussian_explorer  # noqa: E402


def test_draw_gaussian_samples_have_the_requested_moments():
    _, x = draw_gaussian(1.0, -2.0, 2.0, 0.5, 0.8, n=50_000)
    assert x.shape == (50_000, 2)
    torch.testing.assert_close(x.mean(0), torch.tensor([1.0, -2.0], dtype=torch.float64), atol=0.03, rtol=0)
    C = torch.cov(x.T)
    torch.testing.assert_close(C, torch.tensor([[4.0, 0.8], [0.8, 0.25]], dtype=torch.float64),
                               atol=0.05, rtol=0)
    plt.close("all")


def test_same_seed_moves_the_same_points():
    _, a = draw_gaussian(0, 0, 1, 1, 0, seed=3)
    _, b = draw_gaussian(2, 0, 1, 1, 0, seed=3)
    torch.testing.assert_close(b - a, torch.tensor([2.0, 0.0], dtype=torch.float64).expand_as(a))
    plt.close("all")


@pytest.mark.parametrize("kw,match", [({"sigma1": 0}, "positive"), ({"rho": 1.0}, "rho")])
def test_invalid_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        draw_gaussian(**kw)


def test_explorer_redraws_with_the_slider_values(monkeypatch):
    import vae_utils.widgets as widgets
    calls = []
    real = widgets.draw_gaussian

    def spy(**kw):
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(widgets, "draw_gaussian", spy)
    box = widgets.gaussian_explorer(n=50)
    sliders = {w.description: w for row in box.children[:2] for w in row.children}
    assert len(calls) == 1  # drawn once on creation
    sliders["ρ"].value = 0.5
    sliders["μ₁"].value = -1.0
    assert len(calls) == 3
    assert calls[-1]["rho"] == 0.5 and calls[-1]["mu1"] == -1.0 and calls[-1]["n"] == 50
    plt.close("all")



def _tiny_vae():
    from vae_utils.vae import VAE
    torch.manual_seed(0)
    return VAE(latent_dim=3).eval()


def test_draw_latent_is_the_decoder_mean():
    m = _tiny_vae()
    z = torch.tensor([0.5, -1.0, 2.0])
    _, img = draw_latent_fn()(m, z)
    torch.testing.assert_close(img, torch.sigmoid(m.decode(z[None]))[0, 0].detach())
    with pytest.raises(ValueError, match=r"z must have shape \(3,\)"):
        draw_latent_fn()(m, torch.zeros(4))
    plt.close("all")


def draw_latent_fn():
    from vae_utils.widgets import draw_latent
    return draw_latent


def test_interpolation_ends_at_the_two_encoded_digits():
    from vae_utils.widgets import interpolate
    m = _tiny_vae()
    xa, xb = (torch.rand(2, 1, 28, 28) > 0.5).float()
    path = interpolate(m, xa, xb, steps=5)
    assert path.shape == (5, 1, 28, 28)
    mu, _ = m.encode(torch.stack([xa, xb]))
    torch.testing.assert_close(path[0], torch.sigmoid(m.decode(mu[:1]))[0].detach())
    torch.testing.assert_close(path[-1], torch.sigmoid(m.decode(mu[1:]))[0].detach())


def test_latent_explorer_sliders_drive_the_code(monkeypatch):
    import vae_utils.widgets as widgets
    m = _tiny_vae()
    drawn = []
    real = widgets.draw_latent

    def spy(model, z, **kw):
        drawn.append(z.clone())
        return real(model, z, **kw)

    monkeypatch.setattr(widgets, "draw_latent", spy)
    images = (torch.rand(4, 1, 28, 28) > 0.5).float()
    box = widgets.latent_explorer(m, images, n_sliders=2)
    sliders = box.children[0].children[0].children
    assert [s.description for s in sliders] == ["z1", "z2"]
    sliders[1].value = 1.5
    assert drawn[-1].tolist() == [0.0, 1.5, 0.0]
    box.children[1].children[1].value = 2  # digit #2
    box.encode(None)
    mu, _ = m.encode(images[2:3])
    torch.testing.assert_close(drawn[-1], mu[0].detach())  # all dims, not only the slider ones
    assert sliders[0].value == pytest.approx(round(mu[0, 0].item(), 1))
    n = len(drawn)
    box.randomize(None)
    assert len(drawn) == n + 1  # one redraw for a new code, not one per slider
    plt.close("all")


# --- issue 13: unchecked edges (vae_utils.validate) -----------------------------------------

def test_draw_gaussian_names_the_bad_setting():
    """Defect 8: draw_gaussian(sigma1=nan) blamed Sigma."""
    for kw, match in (({"sigma1": float("nan")}, r"^sigma1 must be a positive finite number, got nan"),
                      ({"mu2": float("inf")}, r"^mu2 must be a finite number, got inf"),
                      ({"rho": -1.0}, r"^rho must be a finite number in \(-1, 1\).*singular"),
                      ({"n": -3}, r"^n must be a non-negative integer")):
        with pytest.raises(ValueError, match=match):
            draw_gaussian(**kw)
    _, x = draw_gaussian(n=np.int64(7), seed=np.int64(3))  # any integer type
    assert x.shape == (7, 2)
    plt.close("all")


def test_interpolate_checks_its_images():
    """Defect 8: 0–255 images were encoded as they were; wrong sizes failed in reshape."""
    from vae_utils.widgets import interpolate
    m = _tiny_vae()
    good = (torch.rand(1, 28, 28) > 0.5).float()
    with pytest.raises(ValueError, match=r"^x_a must have values in \[0, 1\].*divide 8-bit images by 255"):
        interpolate(m, good * 255, good)
    with pytest.raises(ValueError, match=r"^x_b must be one 28×28 image.*got shape \(14, 14\)"):
        interpolate(m, good, torch.zeros(14, 14))
    with pytest.raises(ValueError, match=r"^x_b must be one 28×28 image.*got shape \(2, 1, 28, 28\).*x_b\[i\]"):
        interpolate(m, good, torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"^x_a must be floating point.*x_a\.float\(\) / 255"):
        interpolate(m, (good * 255).to(torch.uint8), good)
    assert interpolate(m, good.double().numpy(), good[0], steps=np.int64(3)).shape == (3, 1, 28, 28)


def test_latent_explorer_checks_n_sliders_and_images():
    """Defect 8: latent_explorer(n_sliders=-2) built a widget with no sliders."""
    import vae_utils.widgets as widgets
    m = _tiny_vae()
    images = (torch.rand(4, 1, 28, 28) > 0.5).float()
    with pytest.raises(ValueError, match=r"^n_sliders must be a positive integer, got -2"):
        widgets.latent_explorer(m, images, n_sliders=-2)
    with pytest.raises(ValueError, match=r"^images must have values in \[0, 1\]"):
        widgets.latent_explorer(m, images * 255)
    plt.close("all")


def _bundle(box):
    import base64
    data = box._repr_mimebundle_()
    png = base64.b64decode(data["image/png"])
    return data, png


@pytest.mark.parametrize("which", ["gaussian", "latent", "interpolation"])
def test_explorers_carry_a_picture_for_viewers_without_widgets(which):
    # GitHub and untrusted notebooks cannot show a widget: they show the best other type in
    # the display data. That must be a picture of the view, not the widget's VBox(...) text.
    import vae_utils.widgets as widgets
    from vae_utils.vae import VAE
    torch.manual_seed(0)
    model = VAE(latent_dim=3).eval()
    images = torch.rand(4, 1, 28, 28)
    box = {"gaussian": lambda: widgets.gaussian_explorer(n=50),
           "latent": lambda: widgets.latent_explorer(model, images),
           "interpolation": lambda: widgets.interpolation_explorer(model, images[0], images[1])}[which]()
    data, png = _bundle(box)
    assert "application/vnd.jupyter.widget-view+json" in data
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert "Box(" not in data["text/plain"] and "run the cell" in data["text/plain"]
    plt.close("all")


def test_the_picture_follows_the_sliders():
    import vae_utils.widgets as widgets
    box = widgets.gaussian_explorer(n=50)
    _, before = _bundle(box)
    box.children[0].children[0].value = 2.0  # μ₁
    _, after = _bundle(box)
    assert before != after
    plt.close("all")


def test_interpolation_explorer_starts_halfway():
    # Its static picture shows the middle of the path, not a copy of x_a.
    import vae_utils.widgets as widgets
    from vae_utils.vae import VAE
    torch.manual_seed(0)
    images = torch.rand(2, 1, 28, 28)
    box = widgets.interpolation_explorer(VAE(latent_dim=3).eval(), images[0], images[1])
    assert box.children[0].value == 0.5
    plt.close("all")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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


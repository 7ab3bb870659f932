"""A passed check means the learner wrote the code: the course's own solutions are off limits
while a check runs the learner's function, and the hidden inputs test the worked solutions too."""
import json
import math
from pathlib import Path

import pytest
import torch

from vae_utils import checks, demos, estimators, gaussian
from vae_utils.checks import _lesson5, _lesson6b, _lesson6c, _lesson6e
from vae_utils.checks._common import HIDDEN_SEED, CheckFailure
from vae_utils.lvm import LinearGaussianLVM
from vae_utils.train import train_vae
from vae_utils.vae import VAE

pytestmark = pytest.mark.usefixtures("check_inputs")

ROOT = Path(__file__).resolve().parent.parent


def _zeros_b(W):
    return torch.zeros(W.shape[0], dtype=W.dtype)


# Answers that hand the exercise to vae_utils, each with the signature the check expects.
LIBRARY_ANSWERS = {
    "sample_gaussian": lambda mu, Sigma, n: gaussian.sample_gaussian(mu, Sigma, n),
    "gaussian_log_prob": lambda x, mu, Sigma: gaussian.gaussian_log_prob(x, mu, Sigma),
    "marginal_moments": lambda W, b, sigma, m, S: (W @ m + b, LinearGaussianLVM(
        W @ torch.linalg.cholesky(S), b, sigma).marginal().covariance_matrix),
    "mc_marginal": lambda model, x, n: estimators.log_marginal_mc(model, x, n).exp(),
    "posterior_variance": lambda w, sigma: LinearGaussianLVM(w[:, None], _zeros_b(w[:, None]), float(sigma.mean())).posterior(
        torch.zeros(1, len(w), dtype=torch.float64)).covariance_matrix[0, 0, 0].item(),
    "samples_needed_exact": lambda w, b, sigma, x, rel: demos.naive_cv2(
        LinearGaussianLVM([[w]], [b], sigma), torch.tensor([[x]], dtype=torch.float64)).item() / rel ** 2,
    "weight_cv2": lambda m, s, m_q, s_q: demos.proposal_cv2((m_q - m) / s, s_q / s),
    "effective_sample_size": lambda log_w, dim=0: estimators.effective_sample_size(log_w, dim=dim),
    "best_q_prediction": lambda: _lesson5._best_q_prediction(),
    "elbo_diagnosis": lambda: _lesson5._elbo_diagnosis(),
    "iwae_choice": lambda: _lesson5._iwae_choice(),
    "elbo_gap": lambda mu_q, Sigma_q, mu_post, Sigma_post: _lesson5._elbo_gap(mu_q, Sigma_q, mu_post, Sigma_post),
    "weight_second_moment": lambda mu_q, Sigma_q, mu_post, Sigma_post: _lesson5._weight_second_moment(
        mu_q, Sigma_q, mu_post, Sigma_post),
    "MyVAE": lambda latent_dim=20, hidden=400: VAE(latent_dim, hidden=hidden),
    "vae_loss": lambda model, x: _loss_with_library_kl(model, x),
    "train": lambda model, data, loss_fn, epochs, batch_size=128, lr=2e-3: train_vae(
        model, data, epochs=epochs, batch_size=batch_size, lr=lr, lr_schedule="constant", progress=False),
    "unit_kl": lambda data_var, obs_sigma: _lesson6c._unit_kl(data_var, obs_sigma),
    "best_sigma": lambda x, mu: _lesson6c._best_sigma(x, mu),
    "predicted_ess_fraction": lambda s, k: _lesson6b._predicted_ess_fraction(s, k),
    "defensive_elbo": lambda elbo_q, prior_log_lik, alpha: _lesson6b._defensive_elbo(elbo_q, prior_log_lik, alpha),
    "mixture_log_prob": lambda z, logits, means, logvars: _lesson6e._mixture_log_prob(z, logits, means, logvars),
    "paired_verdict": lambda a, b: _lesson6e._paired_verdict(a, b),
    "optimal_discriminator": lambda lp, lq: _lesson6e._optimal_discriminator(lp, lq),
    "shared_covariance_logits": lambda mus, Sigma, lp: _lesson6e._shared_covariance_logits(mus, Sigma, lp),
    "samples_for_se": lambda p, se: _lesson6e._samples_for_se(p, se),
}


def _loss_with_library_kl(model, x):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    recon = torch.nn.functional.binary_cross_entropy_with_logits(model.decode(z), x, reduction="sum") / len(x)
    kl = estimators.kl_normal_std_normal(mu, logvar).mean()
    return recon + kl, recon, kl


@pytest.mark.parametrize("name", sorted(LIBRARY_ANSWERS))
def test_an_answer_that_calls_the_course_library_fails(name):
    with pytest.raises(CheckFailure, match=r"calls the course's own vae_utils\.[\w.]+.*implement it|"
                                           r"calls the course's own vae_utils\.[\w.]+"):
        getattr(checks, name)(LIBRARY_ANSWERS[name])


def test_the_library_is_caught_under_any_name():
    from vae_utils.gaussian import sample_gaussian as my_sampler  # renamed import
    alias = my_sampler

    def sample_gaussian(mu, Sigma, n):
        return alias(mu, Sigma, n)

    with pytest.raises(CheckFailure, match="implement sample_gaussian yourself"):
        checks.sample_gaussian(sample_gaussian)


def test_the_library_stays_usable_outside_a_check(capsys):
    # The guard is only active during the learner's call: afterwards the library works again,
    # and the check's own references (computed with the library) are not blocked.
    def gaussian_log_prob(x, mu, Sigma):
        return torch.distributions.MultivariateNormal(mu, Sigma).log_prob(x)

    checks.gaussian_log_prob(gaussian_log_prob)
    assert capsys.readouterr().out.startswith("✓")
    mu, Sigma = gaussian.fit_gaussian(torch.randn(10, 2, dtype=torch.float64))
    assert Sigma.shape == (2, 2)
    assert gaussian.gaussian_log_prob(torch.zeros(1, 2, dtype=torch.float64), mu, Sigma).shape == (1,)


def test_seed_must_be_a_non_negative_integer():
    with pytest.raises(ValueError, match="seed"):
        checks.gaussian_log_prob(lambda x, mu, Sigma: None, seed=-1)
    with pytest.raises(ValueError, match="seed"):
        checks.gaussian_log_prob(lambda x, mu, Sigma: None, seed=1.5)


def test_hidden_inputs_differ_from_the_visible_ones():
    seen = []

    def gaussian_log_prob(x, mu, Sigma):
        seen.append(x.clone())
        return torch.distributions.MultivariateNormal(mu, Sigma).log_prob(x)

    checks.gaussian_log_prob(gaussian_log_prob, seed=0)
    checks.gaussian_log_prob(gaussian_log_prob, seed=HIDDEN_SEED)
    assert seen[0].shape == seen[1].shape and not torch.allclose(seen[0], seen[1])


def _solutions(notebook):
    """The worked solutions of a lesson: its import cell, then every answer cell, in order."""
    nb = json.loads((ROOT / "notebooks" / notebook).read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    sources = ["".join(code[0]["source"])]
    sources += ["".join(c["source"]) for c in code
                if c["metadata"].get("nbgrader", {}).get("solution")]
    ns = {}
    for src in sources:
        src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("%"))
        exec(compile(src, notebook, "exec"), ns)  # noqa: S102 - the course's own notebook
    return ns


def _exercises():
    """(notebook, exercise) for every nbgrader answer cell ``<name>_answer`` of every lesson."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
            if grade_id.endswith("_answer"):
                found.append((path.name, grade_id[:-len("_answer")]))
    return found


EXERCISES = _exercises()


def test_every_lesson_from_1_to_6_has_exercises():
    assert {nb[:2] for nb, _ in EXERCISES} >= {"01", "02", "03", "04", "05", "06"}
    assert len(EXERCISES) >= 22


@pytest.mark.parametrize("notebook,name", EXERCISES, ids=[n for _, n in EXERCISES])
def test_worked_solutions_pass_on_several_seeds(notebook, name, capsys):
    ns = _solutions(notebook)
    # Graded hidden tests draw 56-bit seeds from the course secret (grading.hidden_seed).
    for seed in (1, 17, HIDDEN_SEED + 1, 2 ** 56 - 3):
        getattr(checks, name)(ns[name], seed=seed)
        assert capsys.readouterr().out.startswith("✓"), (name, seed)


def test_every_check_is_guarded():
    for name in checks.__all__ if hasattr(checks, "__all__") else dir(checks):
        fn = getattr(checks, name)
        if callable(fn) and hasattr(fn, "library"):
            assert fn.__doc__
    guarded = {n for n in dir(checks) if hasattr(getattr(checks, n), "library")}
    assert set(LIBRARY_ANSWERS) <= guarded
    assert len(guarded) == len(EXERCISES)
    assert math.isfinite(HIDDEN_SEED)


def test_the_course_versions_used_by_try_yours_agree_with_the_worked_solutions():
    from vae_utils.checks._common import _FALLBACKS
    g = torch.Generator().manual_seed(3)
    log_w = -50 + torch.randn(400, generator=g, dtype=torch.float64)
    lesson3, lesson4 = _solutions("03_monte_carlo_marginal.ipynb"), _solutions("04_importance_sampling.ipynb")
    assert _FALLBACKS["chosen_n_samples"]() == lesson3["chosen_n_samples"]()
    assert _FALLBACKS["chosen_proposal"]() == lesson4["chosen_proposal"]()
    torch.testing.assert_close(_FALLBACKS["effective_sample_size"](log_w), lesson4["effective_sample_size"](log_w))
    lw2 = log_w.reshape(20, 20)
    torch.testing.assert_close(_FALLBACKS["effective_sample_size"](lw2, dim=1), lesson4["effective_sample_size"](lw2, dim=1))
    model = LinearGaussianLVM(torch.randn(5, 2, generator=g, dtype=torch.float64),
                              torch.randn(5, generator=g, dtype=torch.float64), 0.4)
    x, _ = model.sample(7, generator=g)
    ours, theirs = _FALLBACKS["make_proposal"](model, x), _solutions("04_importance_sampling.ipynb")["make_proposal"](model, x)
    torch.testing.assert_close(ours.mean, theirs.mean)
    torch.testing.assert_close(ours.stddev, theirs.stddev)
    torch.manual_seed(5)
    ours = _FALLBACKS["mc_marginal"](model, x, 500)
    torch.manual_seed(5)
    theirs = lesson3["mc_marginal"](model, x, 500)
    for u, v in zip(ours, theirs):
        torch.testing.assert_close(u, v)
    mu = torch.randn(300, 6, generator=g) * torch.tensor([1.0, 0.5, 0.2, 0.05, 0.01, 0.0])
    assert _FALLBACKS["active_units"](mu) == _solutions("06a_vae_latent_space.ipynb")["active_units"](mu)
    lesson6 = _solutions("06_vae.ipynb")
    assert _FALLBACKS["predicted_test_loss"](108.4) == lesson6["predicted_test_loss"](108.4)
    assert _FALLBACKS["noise_sources"]() == _solutions("06a_vae_latent_space.ipynb")["noise_sources"]()
    # lesson 6's module, loss and loop: the same initial weights, values and training history
    nets = []
    for make in (_FALLBACKS["MyVAE"], lesson6["MyVAE"]):
        torch.manual_seed(11)
        nets.append(make(latent_dim=5, hidden=32))
    for p, q in zip(*(net.parameters() for net in nets)):
        torch.testing.assert_close(p, q)
    data = torch.rand(96, 1, 28, 28, generator=g)
    x = torch.bernoulli(data, generator=g)
    for ours, theirs in ((nets[0], nets[1]), (nets[1], nets[0])):
        torch.manual_seed(12)
        a = _FALLBACKS["vae_loss"](ours, x)
        torch.manual_seed(12)
        b = lesson6["vae_loss"](theirs, x)
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v)
    histories = []
    for net, loop in zip(nets, (_FALLBACKS["train"], lesson6["train"])):
        torch.manual_seed(13)
        histories.append(loop(net, data, _FALLBACKS["vae_loss"], 2, batch_size=32, lr=1e-3))
    assert histories[0] == pytest.approx(histories[1], rel=1e-6)
    ns = _solutions("05_jensen_and_elbo.ipynb")
    nsb = _solutions("05b_reparameterization_and_iwae.ipynb")
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    S_p = A @ A.T + 0.5 * torch.eye(3, dtype=torch.float64)
    m_p, m_q = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    for S_q in (0.9 * S_p, 0.4 * S_p, S_p + torch.eye(3, dtype=torch.float64)):
        torch.testing.assert_close(_FALLBACKS["elbo_gap"](m_q, S_q, m_p, S_p), ns["elbo_gap"](m_q, S_q, m_p, S_p))
        ours = float(_FALLBACKS["weight_second_moment"](m_q, S_q, m_p, S_p))
        assert ours == pytest.approx(float(nsb["weight_second_moment"](m_q, S_q, m_p, S_p)), rel=1e-12)
    assert _FALLBACKS["best_q_prediction"]() == ns["best_q_prediction"]()
    assert tuple(_FALLBACKS["iwae_choice"]()) == tuple(nsb["iwae_choice"]())
    l1, l2 = _solutions("01_noise_in_a_gaussian.ipynb"), _solutions("02_latent_variable_models.ipynb")
    l3, l4 = _solutions("03_monte_carlo_marginal.ipynb"), _solutions("04_importance_sampling.ipynb")
    for args in ((5, 2, 1.25), (4000, 3, 0.7)):
        assert _FALLBACKS["loglik_gap"](*args) == pytest.approx(l1["loglik_gap"](*args), rel=1e-12)
    w = torch.randn(4, generator=g, dtype=torch.float64)
    sig = 0.3 + torch.rand(len(w), dtype=torch.float64)
    assert _FALLBACKS["posterior_variance"](w, sig) == pytest.approx(float(l2["posterior_variance"](w, sig)), rel=1e-12)
    for args in ((2.0, 0.5, 0.5, 4.0, 0.1), (-1.0, 0.2, 1.3, 0.0, 0.05)):
        assert _FALLBACKS["samples_needed_exact"](*args) == pytest.approx(l3["samples_needed_exact"](*args), rel=1e-9)
    for args in ((0.3, 0.5, 0.8, 0.5), (0.0, 1.0, 0.2, 2.0), (0.3, 0.5, 0.3, 0.3)):
        assert _FALLBACKS["weight_cv2"](*args) == pytest.approx(l4["weight_cv2"](*args), rel=1e-9)
    lesson6c = _solutions("06c_vae_pitfalls.ipynb")
    s2 = torch.exp(torch.randn(9, generator=g, dtype=torch.float64))
    torch.testing.assert_close(_FALLBACKS["unit_kl"](s2, 0.9), lesson6c["unit_kl"](s2, 0.9))
    x, mu = torch.rand(5, 40, generator=g, dtype=torch.float64), torch.rand(5, 40, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_FALLBACKS["best_sigma"](x, mu), lesson6c["best_sigma"](x, mu))
    lesson6d = _solutions("06d_vae_variations.ipynb")
    layers = [("conv", 3, 16, 5), ("linear", 400, 30), ("conv", 16, 8, 3)]
    assert _FALLBACKS["count_parameters"](layers) == lesson6d["count_parameters"](layers)
    eps = torch.randn(500, generator=g, dtype=torch.float64)
    means, w = torch.tensor([-8.0, 0.0, 9.0], dtype=torch.float64), torch.tensor([0.3, 0.5, 0.2], dtype=torch.float64)
    torch.testing.assert_close(_FALLBACKS["mixture_map"](eps, means, 0.4, w), lesson6d["mixture_map"](eps, means, 0.4, w))
    lesson6b = _solutions("06b_vae_log_likelihood.ipynb")
    s = torch.linspace(0.3, 3.0, 50, dtype=torch.float64)
    torch.testing.assert_close(_FALLBACKS["predicted_ess_fraction"](s, 7), lesson6b["predicted_ess_fraction"](s, 7))
    elbo_q, prior_ll = -90 + torch.randn(5, generator=g), -480 + 30 * torch.randn(5, generator=g)
    torch.testing.assert_close(_FALLBACKS["defensive_elbo"](elbo_q, prior_ll, 0.15),
                               lesson6b["defensive_elbo"](elbo_q, prior_ll, 0.15))
    lesson6e = _solutions("06e_beyond_the_vae.ipynb")
    z, logits = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    means, logvars = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_FALLBACKS["mixture_log_prob"](z, logits, means, logvars),
                               lesson6e["mixture_log_prob"](z, logits, means, logvars))
    a, b = -90 + torch.randn(50, generator=g, dtype=torch.float64), -90.5 + torch.randn(50, generator=g, dtype=torch.float64)
    assert _FALLBACKS["paired_verdict"](a, b) == pytest.approx(lesson6e["paired_verdict"](a, b))
    torch.testing.assert_close(_FALLBACKS["optimal_discriminator"](a, b), lesson6e["optimal_discriminator"](a, b))
    S = A @ A.T + torch.eye(3, dtype=torch.float64)
    ours, theirs = _FALLBACKS["shared_covariance_logits"](means, S, logits), lesson6e["shared_covariance_logits"](means, S, logits)
    torch.testing.assert_close(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1])
    assert _FALLBACKS["samples_for_se"](0.2, 0.01) == lesson6e["samples_for_se"](0.2, 0.01) == 1600
    assert set(_FALLBACKS) == {
        "MyVAE", "active_units", "best_sigma", "count_parameters", "defensive_elbo", "elbo_gap",
        "loglik_gap", "make_proposal", "mixture_map", "posterior_variance",
        "predicted_ess_fraction", "samples_needed_exact", "train", "unit_kl",
        "vae_loss", "weight_cv2", "weight_second_moment", "mixture_log_prob", "paired_verdict",
        "optimal_discriminator", "shared_covariance_logits", "samples_for_se",
        "best_q_prediction", "iwae_choice",
        "mc_marginal", "effective_sample_size", "chosen_n_samples", "chosen_proposal",
        "predicted_test_loss", "noise_sources",
    }

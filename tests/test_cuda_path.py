"""The CUDA path of lesson 6's training engine, proved on a CPU-only machine.

A training step captured in a CUDA graph may not read a value back from the GPU (a host
sync) nor turn a Python number into a tensor (a host-to-device copy), and every tensor of
an operation must live on one device. Three CPU stand-ins check this without a GPU
(tests/cuda_fakes.py): a dispatch-mode scan counts syncs and scalar-to-tensor ops of a
whole ``train_vae`` run, FakeTensorMode runs the forward code on fake CUDA tensors, and a
fake graph backend replays the "captured" step on the CPU, which must give the eager run
bit for bit. The tests that need a real GPU run last, each in a subprocess (a failed
capture can leave a process's CUDA state broken), and skip without one.
"""
import ast
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from torch.distributions import Independent, Normal

import vae_utils.train as tr
from cuda_fakes import FakeCuda, FakeGraphBackend, OpCounter
from vae_utils import estimators as est
from vae_utils import latent, widgets
from vae_utils.data import load_mnist
from vae_utils.train import CudaGraphCaptureError, evaluate, pick_device, train_vae
from vae_utils.vae import VAE, negative_elbo

# The configurations the lessons train (6: Bernoulli MLP with KL warm-up in the exercises;
# 6c: Gaussian decoders, free bits; 6d: the convolutional VAE), small enough for a CPU test.
CONFIGS = {
    "bernoulli-mlp": ({"latent_dim": 2}, {}),
    "gaussian-mlp": ({"latent_dim": 2, "likelihood": "gaussian"}, {}),
    "bernoulli-conv": ({"latent_dim": 2, "arch": "conv", "hidden": 16}, {}),
    "gaussian-conv": ({"latent_dim": 2, "arch": "conv", "hidden": 16, "likelihood": "gaussian"}, {}),
    "free-bits": ({"latent_dim": 2, "likelihood": "gaussian", "obs_sigma": 2.5}, {"free_bits": 0.5}),
    "kl-warmup": ({"latent_dim": 2}, {"kl_warmup": 2, "beta": 0.5}),
}


@pytest.fixture(scope="module")
def gray():
    x, _ = load_mnist("train", binarize=False, source="embedded")
    return x[:64]


def _model(name, seed=0):
    torch.manual_seed(seed)
    return VAE(**CONFIGS[name][0])


def _scan(fn):
    counter = OpCounter()
    with counter:
        fn()
    return counter


# --- 1. host syncs and scalar-to-tensor ops do not grow with the number of steps -------------

@pytest.mark.parametrize("name", CONFIGS)
def test_a_training_run_syncs_per_epoch_never_per_step(gray, name):
    """The whole run, not one step: the same syncs and scalar-to-tensor ops with 2 or 6 steps
    per epoch (a step that made a Python number into a tensor — the Gaussian decoder's σ as a
    float — or read a value back would add one per step), and per extra epoch only the six
    numbers the history records (train and test −ELBO, recon, KL) are read back."""
    kw = CONFIGS[name][1]

    def run(batch_size, epochs):
        m = _model(name)
        return _scan(lambda: train_vae(m, gray[:24], epochs=epochs, batch_size=batch_size,
                                       test_x=gray[24:32], device="cpu", progress=False, **kw))

    few, many = run(12, 2), run(4, 2)  # 2 and 6 steps per epoch
    assert many.counts["ops"] > 2 * few.counts["ops"]  # the scan sees the steps
    assert many.counts["sync"] == few.counts["sync"], (few.syncs, many.syncs)
    assert many.counts["scalar_to_tensor"] == few.counts["scalar_to_tensor"], (few.scalars, many.scalars)
    longer = run(12, 4)
    assert longer.counts["scalar_to_tensor"] == few.counts["scalar_to_tensor"]
    # two more epochs, six numbers each (on the CPU most read-backs do not dispatch at all:
    # the fake-GPU test below counts them)
    assert longer.counts["sync"] - few.counts["sync"] <= 2 * 6


def test_a_gaussian_likelihood_makes_no_tensor_of_a_python_number():
    m = _model("gaussian-mlp")
    z = torch.randn(5, 2)
    scan = _scan(lambda: m.likelihood(z).log_prob(torch.rand(5, 1, 28, 28)))
    assert scan.counts["scalar_to_tensor"] == 0 and scan.counts["sync"] == 0, scan.scalars + scan.syncs
    assert m.obs_sigma == 0.1 and "_obs_scale" not in m.state_dict()  # saved weights unchanged
    m.obs_sigma = 0.5
    assert m.likelihood(z).base_dist.scale.unique().tolist() == [0.5]
    with pytest.raises(ValueError, match="obs_sigma"):
        m.obs_sigma = -1.0
    # a whole model pickled before σ had a buffer still loads, with its σ
    state = m.__getstate__().copy()
    state["_buffers"] = {k: v for k, v in state["_buffers"].items() if k != "_obs_scale"}
    state["obs_sigma"] = 0.25
    del state["_obs_sigma"]
    old = VAE.__new__(VAE)
    old.__setstate__(state)
    assert old.obs_sigma == 0.25 and old.likelihood(z).base_dist.scale.unique().tolist() == [0.25]


def test_importance_sampling_syncs_once_per_call_not_per_chunk(gray):
    """``approximate_posterior`` without argument validation: no read-back per chunk."""
    m = _model("bernoulli-mlp")
    x = (gray[:4] > 0.5).float()

    def run(chunk):
        with torch.no_grad():
            q = m.approximate_posterior(x)
            return _scan(lambda: est.log_marginal_is(m, x, q, 40, chunk_size=chunk))

    one, eight = run(40), run(5)
    assert eight.counts["sync"] == one.counts["sync"] <= 1, (one.syncs, eight.syncs)


# --- 2. nothing mixes devices: the forward code on fake CUDA tensors ------------------------

def _fake_model(fc, name):
    return fc.cuda(_model(name))


@pytest.mark.parametrize("name", CONFIGS)
def test_negative_elbo_on_a_fake_gpu(name):
    free_bits = CONFIGS[name][1].get("free_bits", 0.0)
    with FakeCuda() as fc:
        m = _fake_model(fc, name)
        x = torch.empty(6, 1, 28, 28, device="cuda")
        fc.reset()
        loss, recon, kl = negative_elbo(m, x, check_input=False, free_bits=free_bits)
        counts = dict(fc.counter.counts)
        assert {t.device.type for t in (loss, recon, kl)} == {"cuda"}
    assert counts.get("h2d", 0) == counts.get("sync", 0) == counts.get("scalar_to_tensor", 0) == 0, counts


def test_the_estimators_on_a_fake_gpu():
    """Data on the CPU are moved once; proposal, prior and likelihood all live on the GPU."""
    with FakeCuda() as fc:
        m = _fake_model(fc, "bernoulli-mlp")
        x_cpu = torch.zeros(3, 1, 28, 28)
        x = torch.empty(3, 1, 28, 28, device="cuda")
        q = m.approximate_posterior(x)
        for fn in (lambda: est.log_marginal_mc(m, x_cpu, 10, chunk_size=4),
                   lambda: est.log_marginal_is(m, x_cpu, q, 10, chunk_size=4),
                   lambda: est.elbo(m, x_cpu, q, 10, chunk_size=4),
                   lambda: est.iwae_bound(m, x_cpu, q, 10, chunk_size=4)):
            fc.reset()
            out = fn()
            assert out.device.type == "cuda" and out.shape == (3,)
            assert fc.counter.counts["h2d"] == 1 and fc.counter.counts["scalar_to_tensor"] == 0
        lw = est._log_weights(m, x, q, 10)
        assert est.effective_sample_size(lw).device.type == "cuda"
        mu, logvar = m.encode(x)
        assert est.kl_normal_std_normal(mu, logvar).device.type == "cuda"
        fc.reset()
        assert set(evaluate(m, x_cpu)) == {"loss", "recon", "kl"}  # scored on the GPU
        assert fc.counter.counts["h2d"] == 1  # the images, moved once
    with FakeCuda() as fc:  # a proposal on the wrong device is refused by name, not by torch
        m = _fake_model(fc, "bernoulli-mlp")
        with pytest.raises(ValueError, match="proposal lives on cpu but the model on cuda"):
            est.log_marginal_is(m, torch.zeros(3, 1, 28, 28),
                                Independent(Normal(torch.zeros(3, 2), torch.ones(3, 2)), 1), 10)


def test_latent_space_helpers_on_a_fake_gpu():
    with FakeCuda() as fc:
        m = _fake_model(fc, "bernoulli-mlp")
        mu, logvar = m.encode(torch.empty(7, 1, 28, 28, device="cuda"))
        q_agg = latent.aggregate_posterior(mu, logvar)
        for dist in (q_agg, m.prior):
            z1, z2, dens = latent.density_grid(dist, 3.0, n=11)
            assert {t.device.type for t in (z1, z2, dens)} == {"cpu"} and dens.shape == (11, 11)
        dist, index = latent.nearest_neighbour(torch.empty(4, 784, device="cuda"),
                                               torch.empty(9, 784, device="cuda"))
        assert dist.device.type == index.device.type == "cuda"


def test_widget_helpers_on_a_fake_gpu():
    with FakeCuda() as fc:
        m = _fake_model(fc, "gaussian-mlp")
        fc.reset()
        img = widgets.decode_mean(m, torch.zeros(3, 2))
        assert img.device.type == "cpu" and img.shape == (3, 1, 28, 28)
        assert fc.counter.counts["h2d"] == 1  # the codes, once
        path = widgets.interpolate(m, torch.zeros(28, 28), torch.zeros(784), steps=5)
        assert path.device.type == "cpu" and path.shape == (5, 1, 28, 28)


def test_train_vae_moves_the_data_to_the_gpu_once(gray, monkeypatch):
    """On a fake GPU (the step's backward and Adam need a real one: here the step is its
    forward pass): train_x and test_x are copied to the GPU once, not per epoch, and per
    epoch only the six recorded numbers are read back."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)

    def forward_only(self, xb):
        with torch.no_grad():
            _, recon, kl = negative_elbo(self.model, xb, check_input=False, free_bits=self.free_bits)
            self.sums.add_(torch.stack([recon + kl, recon, kl]) * xb.shape[0])

    monkeypatch.setattr(tr._Step, "__call__", forward_only)
    counts = {}
    for epochs in (1, 3):
        with FakeCuda() as fc:
            m = _fake_model(fc, "gaussian-mlp")
            fc.reset()
            hist = train_vae(m, gray[:32], epochs=epochs, batch_size=16, test_x=gray[32:40],
                             device="cuda:0", cuda_graph=False, progress=False)
            counts[epochs] = dict(fc.counter.counts)
        assert hist["device"] == "cuda:0" and len(hist["test_loss"]) == epochs
    assert counts[1]["h2d"] == counts[3]["h2d"] == 2, counts
    assert counts[3]["sync"] - counts[1]["sync"] <= 2 * 6, counts
    assert counts[1].get("scalar_to_tensor", 0) == counts[3].get("scalar_to_tensor", 0)


# --- 3. the graph logic with a fake backend: the eager run, bit for bit ------------------------

def _train(name, x, batch_size, backend=None, monkeypatch=None, epochs=3, seed=5):
    if backend is not None:
        monkeypatch.setattr(tr, "_graph_backend", lambda dev: backend)
    m = _model(name)
    hist = train_vae(m, x, epochs=epochs, batch_size=batch_size, device="cpu", seed=seed,
                     cuda_graph=backend is not None, progress=False, **CONFIGS[name][1])
    return m, hist, torch.get_rng_state()


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("n,batch_size", [(48, 16), (48, 20), (49, 16)],
                         ids=["divides", "tail", "one-image-tail"])
def test_graph_replay_equals_the_eager_run_bit_for_bit(gray, monkeypatch, name, n, batch_size):
    """Warm-up steps change the parameters, Adam's moments and step count, the epoch sums
    and the random-number generator; all are undone, so replaying the captured step gives
    exactly the eager run — losses, parameters and the generator's state afterwards."""
    x = gray[:n]
    m_eager, h_eager, rng_eager = _train(name, x, batch_size)
    backend = FakeGraphBackend("cpu")
    m_graph, h_graph, rng_graph = _train(name, x, batch_size, backend, monkeypatch)
    sizes = sorted({batch_size, n % batch_size} - {0})
    assert h_graph["cuda_graph"] is True and backend.captured == len(sizes)
    assert backend.replays == 3 * math.ceil(n / batch_size)
    for k in ("train_loss", "train_recon", "train_kl", "lr", "beta"):
        assert h_graph[k] == h_eager[k], k
    for (k, p), q in zip(m_graph.state_dict().items(), m_eager.state_dict().values()):
        assert torch.equal(p, q), k
    assert torch.equal(rng_graph, rng_eager)


def test_warmup_and_capture_share_one_stream_on_the_models_device(gray, monkeypatch):
    backend = FakeGraphBackend("cpu")
    _train("bernoulli-mlp", gray[:40], 16, backend, monkeypatch, epochs=1)
    assert backend.streams == 1
    assert [e[0] for e in backend.log] == ["warmup", "capture", "capture"]  # sizes 16 and 8
    assert {e[1:] for e in backend.log} == {(torch.device("cpu"), "stream 1")}
    assert backend.current_stream is None and backend.current_device is None  # restored


def test_a_failed_capture_stops_with_what_to_do(gray, monkeypatch):
    """No silent eager training after a failed capture: the cause (not the follow-up error of
    ending the capture), cuda_graph=False, and a restart where the process cannot recover."""

    class Failing(FakeGraphBackend):
        def capture(self, fn, stream):
            super().capture(fn, stream)
            try:
                raise RuntimeError("operation not permitted when stream is capturing")
            except RuntimeError:
                raise RuntimeError("CUDA error: operation failed due to a previous error during capture")

    for recovers, advice in ((True, "cuda_graph=False"), (False, "restart the kernel")):
        backend = Failing("cpu")
        backend.recovers = recovers
        monkeypatch.setattr(tr, "_graph_backend", lambda dev: backend)
        m = _model("gaussian-mlp")
        before = [p.detach().clone() for p in m.parameters()]
        with pytest.raises(CudaGraphCaptureError, match=advice) as info:
            train_vae(m, gray[:32], epochs=2, device="cpu", progress=False)
        assert "operation not permitted when stream is capturing" in str(info.value)
        assert backend.current_stream is None  # the stream is restored
        assert all(torch.equal(p, p0) for p, p0 in zip(m.parameters(), before))  # warm-up undone


def test_the_gpu_backend_captures_only_a_capturable_optimizer():
    """Adam stepped inside a capture must be capturable; otherwise train_vae trains eagerly
    (with a warning) instead of failing in the capture."""
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert "capturable" in tr._CudaGraphBackend.unsupported(torch.optim.Adam(params))
    assert tr._CudaGraphBackend.unsupported(torch.optim.Adam(params, capturable=True)) is None


class ValidatingVAE(VAE):
    """A learner's variant whose likelihood validates its argument: a host sync per step."""

    def likelihood(self, z):
        return Independent(Normal(torch.sigmoid(self.decode(z)), 0.5, validate_args=True), 3)


def test_a_step_that_syncs_is_not_captured_and_trains_eagerly(gray, monkeypatch):
    backend = FakeGraphBackend("cpu")
    monkeypatch.setattr(tr, "_graph_backend", lambda dev: backend)
    runs = {}
    for graph in (True, False):
        torch.manual_seed(0)
        m = ValidatingVAE(latent_dim=2, likelihood="gaussian")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs[graph] = train_vae(m, gray[:32], epochs=2, batch_size=16, device="cpu",
                                    cuda_graph=graph, progress=False)
        if graph:
            assert any("cannot be captured" in str(w.message) for w in caught)
    assert backend.captured == 0 and [e[0] for e in backend.log] == ["warmup"]
    assert runs[True]["cuda_graph"] is False
    assert runs[True]["train_loss"] == runs[False]["train_loss"]  # the failed warm-up undone


# --- 4. devices, seeds, and tests that mean the CPU -----------------------------------------------

def test_a_cuda_index_the_machine_lacks_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == torch.device("cuda:0")
    assert pick_device("cuda") == torch.device("cuda")
    with pytest.raises(ValueError, match=r"device='cuda:7' was requested but this machine has 1 CUDA GPU"):
        pick_device("cuda:7")
    with pytest.raises(ValueError, match="cuda:1"):
        pick_device(torch.device("cuda", 1))


def test_plotting_the_aggregate_posterior_seeds_no_global_generator(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda s: seeded.append(("all", s)))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda s: seeded.append(("one", s)))
    m = _model("bernoulli-mlp")
    with torch.no_grad():
        q = latent.aggregate_posterior(*m.encode(torch.rand(20, 1, 28, 28)))
    torch.manual_seed(123)
    seeded.clear()
    state = torch.get_rng_state()
    points = []
    for _ in range(2):
        fig, (ax, _, _) = latent.plot_aggregate_posterior(m, q, n_points=50, n_images=10, seed=3)
        points.append(ax.collections[0].get_offsets().copy())
        plt.close(fig)
    assert seeded == []  # no CUDA generator was (re)seeded
    assert torch.equal(torch.get_rng_state(), state)  # nor the CPU's
    assert (points[0] == points[1]).all()  # the seed fixes the figure


def test_tests_that_mean_the_cpu_say_so():
    """On a GPU machine device="auto" trains on CUDA: every train_vae call of the training
    tests names its device (the CUDA ones run below, in subprocesses)."""
    here = Path(__file__).parent
    for path in (here / "test_train.py", Path(__file__)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "train_vae":
                named = {k.arg for k in node.keywords} | {  # and **{"device": ..., ...}
                    key.value for k in node.keywords if k.arg is None and isinstance(k.value, ast.Dict)
                    for key in k.value.keys if isinstance(key, ast.Constant)}
                assert "device" in named, f"{path.name}:{node.lineno} trains on device='auto'"


# --- 5. on a real GPU: each in its own process, skipped without one ---------------------------

def _on_gpu(code: str, timeout: int = 600) -> dict:
    """Run ``code`` (which prints one JSON line last) in a fresh Python process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1])] + sys.path))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

_GPU_RUNS = """
import json, torch, warnings
from vae_utils.data import load_mnist
from vae_utils.train import train_vae
from vae_utils.vae import VAE
warnings.filterwarnings("error", message="train_vae", category=RuntimeWarning)  # no fallback
gray, _ = load_mnist("train", binarize=False, source="embedded")
out = {}
for name, (model_kw, kw) in CONFIGS.items():
    runs = {}
    for graph in (True, False):
        torch.manual_seed(0)
        runs[graph] = train_vae(VAE(**model_kw), gray[:500], epochs=3, device=DEVICE, seed=5,
                                cuda_graph=graph, progress=False, test_x=gray[500:600], **kw)
    out[name] = {str(g): {k: runs[g][k] for k in ("train_loss", "train_recon", "train_kl", "cuda_graph")}
                 for g in runs}
print(json.dumps(out))
"""


@needs_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_on_a_gpu_every_configuration_is_captured_and_matches_eager(device):
    """Graph replay and the eager loop draw the same random numbers and make the same Adam
    updates: per-epoch losses agree to float rounding (500 = 3 × 128 + 116: both graphs)."""
    if device == "cuda:1" and torch.cuda.device_count() < 2:
        pytest.skip("needs a second CUDA GPU")
    out = _on_gpu(f"CONFIGS = {CONFIGS!r}\nDEVICE = {device!r}\n" + _GPU_RUNS)
    for name, runs in out.items():
        assert runs["True"]["cuda_graph"] is True and runs["False"]["cuda_graph"] is False, name
        for k in ("train_loss", "train_recon", "train_kl"):
            assert runs["True"][k] == pytest.approx(runs["False"][k], rel=1e-4), (name, k)


@needs_cuda
def test_on_a_gpu_a_syncing_step_trains_eagerly_and_the_process_stays_usable():
    out = _on_gpu("""
        import json, torch, warnings
        from torch.distributions import Independent, Normal
        from vae_utils.train import train_vae
        from vae_utils.vae import VAE
        class ValidatingVAE(VAE):
            def likelihood(self, z):
                return Independent(Normal(torch.sigmoid(self.decode(z)), 0.5, validate_args=True), 3)
        x = torch.rand(64, 1, 28, 28)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h = train_vae(ValidatingVAE(latent_dim=2, likelihood="gaussian"), x, epochs=2,
                          device="cuda", progress=False)
        h2 = train_vae(VAE(latent_dim=2), (x > 0.5).float(), epochs=2, device="cuda", progress=False)
        print(json.dumps({"graph": h["cuda_graph"], "warned": any("cannot be captured" in str(w.message)
                          for w in caught), "after": h2["cuda_graph"], "sync_mode": torch.cuda.get_sync_debug_mode()}))
    """)
    assert out == {"graph": False, "warned": True, "after": True, "sync_mode": 0}

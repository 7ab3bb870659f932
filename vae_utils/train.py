"""Training the VAE of lesson 6: device choice and a lean training loop.

The whole data set is moved to the device once, as one tensor, and each epoch visits it
in a random order by indexing that tensor with a permutation — no per-sample Dataset /
DataLoader, whose Python overhead per image dominates the cost of a small model. On a CUDA
GPU the training step is captured in a CUDA graph and replayed, since launching its ~100
small kernels one by one costs more than the GPU's work. Grayscale digits are binarized
afresh every epoch (dynamic binarization), and the learning rate follows a cosine schedule.
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings

import torch
from torch import Tensor

from . import validate
from .vae import VAE, negative_elbo

__all__ = ["pick_device", "train_vae", "evaluate", "cosine_lr", "progress_bar",
           "CudaGraphCaptureError"]

# The lesson's recommended recipe (measured in benchmarks/README.md): with dynamic
# binarization of the grayscale digits, 150 epochs on a cosine schedule.
DEFAULT_EPOCHS = 150
DEFAULT_BATCH_SIZE = 128
DEFAULT_LR = 2e-3
DEFAULT_LR_SCHEDULE = "cosine"
_LR_SCHEDULES = ("cosine", "constant")


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else Apple MPS, else CPU; anything else is passed to
    ``torch.device`` after checking that it is usable.

    Raises:
        ValueError: an unknown device string, CUDA/MPS requested but not available, or a CUDA
            index this machine does not have (``"cuda:7"`` with one GPU).
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got {device!r}.")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device {device!r} is not a device torch knows ({e}); use 'auto', "
                         f"'cpu', 'cuda' or 'mps'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA GPU is available; use device='auto'.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"device={device!r} was requested but this machine has {count} CUDA GPU"
                         f"{'s' if count != 1 else ''} (cuda:0{f' … cuda:{count - 1}' if count > 1 else ''}); "
                         f"use device='cuda' (the current GPU) or an index below {count}.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was requested but Apple MPS is not available; use device='auto'.")
    return dev


def _adam(params, lr: float, dev: torch.device) -> torch.optim.Optimizer:
    """Adam for ``train_vae``.

    On CUDA: the fused kernel with ``capturable=True`` and the learning rate as a device
    tensor, so that the step can be captured in a CUDA graph and a schedule changes the rate
    between replays (the same optimizer also serves the eager path, so the two compute the
    same updates). Elsewhere: the fused kernel where this torch build has it for the device
    (about 28 % more images/s on a 2-core CPU, benchmarks/README.md), the standard one
    otherwise.
    """
    params = list(params)
    if dev.type == "cuda":
        try:
            return torch.optim.Adam(params, lr=torch.tensor(float(lr), device=dev), fused=True,
                                    capturable=True)
        except (RuntimeError, TypeError, ValueError):
            pass
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        if isinstance(group["lr"], Tensor):
            group["lr"].fill_(lr)  # in place: a captured step reads it from the same address
        else:
            group["lr"] = lr


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """Learning rate of epoch ``epoch`` (1 … ``epochs``) under the cosine schedule of
    ``train_vae``: lr · ½ (1 + cos(π (epoch − 1) / epochs)) — ``lr`` in the first epoch,
    falling smoothly towards 0 (lr · ½ (1 + cos(π (E − 1)/E)) in the last).

    Source: Loshchilov & Hutter 2017, "SGDR: Stochastic Gradient Descent with Warm
    Restarts", eq. 5 (one cycle, no restart, η_min = 0, stepped once per epoch).
    """
    return lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def _is_grayscale(x: Tensor) -> bool:
    """True when some pixel lies strictly between 0 and 1 (one value read back from the device)."""
    return bool(((x > 0) & (x < 1)).any())


class _Step:
    """One training step on a batch: gradients reset, forward, backward of recon + w · KL (with
    free bits λ > 0: recon + w · Σ_j max(λ, KL_j)), Adam, and the batch's (−ELBO, recon, KL) ×
    batch size added to ``sums`` — all on the device, nothing read back and no Python number
    made into a tensor, so the same code runs eagerly and under CUDA-graph capture."""

    def __init__(self, model: VAE, opt: torch.optim.Optimizer, weight: Tensor, sums: Tensor,
                 free_bits: float = 0.0):
        self.model, self.opt, self.weight, self.sums = model, opt, weight, sums
        self.free_bits = free_bits

    def __call__(self, xb: Tensor) -> None:
        # set_to_none: a captured backward then writes (not adds) the gradients, in the graph's memory
        self.opt.zero_grad(set_to_none=True)
        objective, recon, kl = negative_elbo(self.model, xb, check_input=False,  # data checked once
                                             free_bits=self.free_bits)
        (recon + self.weight * (objective - recon)).backward()  # objective − recon: the KL term trained
        self.opt.step()
        self.sums.add_(torch.stack([(recon + kl).detach(), recon.detach(), kl.detach()]) * xb.shape[0])


class CudaGraphCaptureError(RuntimeError):
    """Capturing ``train_vae``'s training step in a CUDA graph failed after a clean warm-up.
    The message says what failed and what to do (``cuda_graph=False``; a new Python process
    where this PyTorch cannot recover from a failed capture)."""


class _NotCapturable(Exception):
    """The warm-up found something capture forbids (a host sync): train eagerly instead."""


class _CudaGraphBackend:
    """What ``_GraphedSteps`` needs of the GPU, from ``torch.cuda`` (docs: torch.cuda.graphs;
    CUDA semantics, "CUDA Graphs"). Tests replace it by a CPU stand-in that records the step
    at "capture" and calls it at "replay" (tests/cuda_fakes.py)."""

    def __init__(self, device: torch.device):
        self.device = device

    @staticmethod
    def unsupported(opt: torch.optim.Optimizer) -> str | None:
        """Why ``opt`` cannot be stepped inside a capture (None: it can)."""
        if not all(group.get("capturable", False) for group in opt.param_groups):
            return "this PyTorch has no capturable fused Adam for the GPU"
        return None

    def device_context(self):
        """The chosen GPU as current device, also when it is not the current one (cuda:1):
        capture, streams and ``synchronize`` act on the current device."""
        return torch.cuda.device(self.device)

    def new_stream(self):
        return torch.cuda.Stream(self.device)

    @contextlib.contextmanager
    def stream_context(self, stream):
        """``stream`` current inside (after the work queued so far), the previous stream
        current again afterwards — also when a capture inside fails."""
        current = torch.cuda.current_stream(self.device)
        stream.wait_stream(current)
        with torch.cuda.stream(stream):
            yield
        current.wait_stream(stream)

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def forbid_syncs(self):
        """Any synchronizing CUDA operation inside raises (``torch.cuda.set_sync_debug_mode``)."""
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode(previous)

    def get_rng_state(self) -> Tensor:
        return torch.cuda.get_rng_state(self.device)

    def set_rng_state(self, state: Tensor) -> None:
        torch.cuda.set_rng_state(state, self.device)

    def capture(self, fn, stream):
        """Capture ``fn()`` in a CUDA graph on ``stream`` (the warm-up's stream); returns its replay."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            fn()
        return graph.replay

    def recovered(self, stream) -> bool:
        """After a failed capture on ``stream``: is this process's GPU usable again (the
        stream no longer capturing, the random-number generator drawing)? Some PyTorch
        versions leave the generator marked as capturing ("Offset increment outside graph
        capture encountered unexpectedly" at the next random draw)."""
        try:
            with torch.cuda.stream(stream):
                if torch.cuda.is_current_stream_capturing():
                    return False
            torch.empty(8, device=self.device).normal_()
            torch.cuda.synchronize(self.device)
            return True
        except Exception:  # noqa: BLE001 - any error here means: not recovered
            return False


def _graph_backend(dev: torch.device):
    """The CUDA-graph backend for ``dev``, or None where graphs do not exist (CPU, MPS)."""
    return _CudaGraphBackend(dev) if dev.type == "cuda" else None


def _root_cause(e: BaseException) -> BaseException:
    """The first exception of a chain: when the captured code raised, ``torch.cuda.graph``'s
    exit then fails to end the capture, and that second error hides the first."""
    seen = {id(e)}
    while e.__context__ is not None and id(e.__context__) not in seen:
        e = e.__context__
        seen.add(id(e))
    return e


def _describe_error(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


class _GraphedSteps:
    """The training step captured in CUDA graphs — one per batch size of the epoch (the full
    batch and, if the data do not divide evenly, the last partial batch) — and replayed per
    batch: PyTorch's "whole network capture" (docs: torch.cuda.graphs; CUDA semantics,
    "CUDA Graphs"). Each replay launches the whole step at once instead of the ~100 kernels
    of an eager step, whose launch cost bounds a small network's speed on a GPU.

    On the model's GPU (a device context, so cuda:1 works too) and on one side stream:
    ``WARMUP_STEPS`` eager steps per batch size, under a check that fails on any host sync
    (``torch.cuda.set_sync_debug_mode("error")``) — a step that syncs cannot be captured, and
    then ``_NotCapturable`` is raised before any capture began, for training eagerly; after a
    clean warm-up, the captures, on the same stream. The warm-up changes the parameters, the
    Adam state, the epoch sums and the random-number generator: all are restored afterwards,
    so training starts from the state of the eager path and draws the same random numbers. A
    capture that fails anyway raises ``CudaGraphCaptureError``, with the stream restored.
    """

    WARMUP_STEPS = 3

    def __init__(self, step: _Step, sizes: list[int], data: Tensor, backend):
        model, opt = step.model, step.opt
        params = list(model.parameters())
        saved = [p.detach().clone() for p in params]
        self.inputs = {b: data[:b].clone() for b in sizes}  # static input buffers
        self.replays: dict[int, object] = {}
        # Argument validation of torch.distributions reads values back (a sync), which capture
        # forbids: off for the warm-up and the capture alike, so the warm-up checks what is captured.
        validate_default = torch.distributions.Distribution._validate_args
        with backend.device_context():
            rng = backend.get_rng_state()
            stream = backend.new_stream()
            torch.distributions.Distribution.set_default_validate_args(False)
            failed = True
            try:
                backend.synchronize()  # the data and the model's state are in place
                try:
                    with backend.stream_context(stream):  # one stream: warm-up, then capture
                        try:
                            with backend.forbid_syncs():
                                for b in sizes:
                                    for _ in range(self.WARMUP_STEPS):
                                        step(self.inputs[b])
                            backend.synchronize()
                        except Exception as e:  # noqa: BLE001 - whatever the warm-up met: not capturable
                            raise _NotCapturable(_describe_error(e)) from e
                        for b in sizes:
                            self.replays[b] = backend.capture(functools.partial(step, self.inputs[b]), stream)
                except _NotCapturable:
                    raise
                except Exception as e:  # noqa: BLE001 - the stream is restored by now
                    raise self._capture_error(e, backend, stream) from e
                failed = False
            finally:
                torch.distributions.Distribution.set_default_validate_args(validate_default)
                self._undo_warmup(step, params, saved, rng, backend, quiet=failed)

    @staticmethod
    def _capture_error(e: BaseException, backend, stream) -> CudaGraphCaptureError:
        cause = _root_cause(e)
        what = _describe_error(cause)
        if cause is not e:
            what += f"; then, ending the capture: {_describe_error(e)}"
        if backend.recovered(stream):
            todo = ("Train with train_vae(..., cuda_graph=False): the same updates, step by step "
                    "(slower on a GPU). This process's GPU state has recovered.")
        else:
            todo = ("This PyTorch has not recovered from the failed capture (its GPU random-number "
                    "generator or stream is still in capture mode): restart the kernel (the Python "
                    "process), then train with train_vae(..., cuda_graph=False).")
        return CudaGraphCaptureError(
            f"train_vae: capturing the training step in a CUDA graph failed after a clean warm-up "
            f"({what}). {todo}")

    @staticmethod
    def _undo_warmup(step: _Step, params, saved, rng, backend, quiet: bool) -> None:
        """Parameters, Adam state, epoch sums and random numbers as before the warm-up
        (``quiet``: while an error propagates, a failure here must not replace it)."""
        try:
            backend.synchronize()
            with torch.no_grad():
                for p, p0 in zip(params, saved):
                    p.copy_(p0)
                for state in step.opt.state.values():  # Adam starts from zero moments, step 0
                    for v in state.values():
                        if isinstance(v, Tensor):
                            v.zero_()
                step.sums.zero_()
            backend.set_rng_state(rng)
        except Exception:  # noqa: BLE001 - after a failed capture, the capture's error is the news
            if not quiet:
                raise

    def __call__(self, xb: Tensor) -> None:
        self.inputs[len(xb)].copy_(xb)
        self.replays[len(xb)]()


@torch.no_grad()
def evaluate(model: VAE, x: Tensor, *, batch_size: int = 1000) -> dict[str, float]:
    """Mean one-sample −ELBO and its two terms over images ``x`` (N, 1, 28, 28), in eval mode.

    x (or flat (N, 784)) is converted to the model's dtype and moved to its device;
    ``batch_size`` images (any integer type, ≥ 1) are scored at a time.

    Returns:
        dict with ``loss``, ``recon``, ``kl``: floats, nats per image (loss = recon + kl).
    Raises:
        ValueError: x not a non-empty batch of images, not floating point, NaN, or outside
            [0, 1]; batch_size not a positive integer (``vae_utils.validate``).
    """
    x = validate.images(x, "x", like=model)
    batch_size = validate.count(batch_size, "batch_size")
    return _evaluate(model, x, batch_size)


@torch.no_grad()
def _evaluate(model: VAE, x: Tensor, batch_size: int) -> dict[str, float]:
    """``evaluate`` of images already checked (and best already on the model's device)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    totals = torch.zeros(3, device=dev)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev, non_blocking=True)
        loss, recon, kl = negative_elbo(model, xb, check_input=False)
        totals += torch.stack([loss, recon, kl]) * len(xb)
    model.train(was_training)
    loss, recon, kl = (totals / len(x)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


def progress_bar(iterable, **kwargs):
    """A tqdm progress bar over ``iterable`` (keyword arguments go to tqdm).

    In a notebook it is tqdm's widget bar, whose saved output is rewritten to the bar's final
    text when the loop ends, so that a saved notebook shows "100% 50/50 [00:07…]" rather than
    the "0%" the bar read when it first appeared; elsewhere it is tqdm's text bar.
    """
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not issubclass(tqdm, notebook_tqdm):  # tqdm.auto picks the text bar outside notebooks
        return tqdm(iterable, **kwargs)
    return _notebook_bar_class()(iterable, **kwargs)


def _notebook_bar_class():
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class FinalStateBar(notebook_tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self._handle = display(self.container, display_id=True) if not self.disable else None
            self.displayed = True

        def close(self):
            was_open = not self.disable
            super().close()
            if was_open and self._handle is not None:
                # Display again under the same id: the widget stays, and the text form that
                # viewers without widgets show is now the bar's final state.
                self._handle.update(self.container)
                self._handle = None

    return FinalStateBar


def train_vae(model: VAE, train_x: Tensor, *, epochs: int = DEFAULT_EPOCHS,
              batch_size: int = DEFAULT_BATCH_SIZE, lr: float = DEFAULT_LR,
              device: str | torch.device = "auto", test_x: Tensor | None = None,
              progress: bool = True, seed: int | None = 0, beta: float = 1.0,
              kl_warmup: int = 0, lr_schedule: str = DEFAULT_LR_SCHEDULE,
              dynamic_binarization: bool | None = None, cuda_graph: bool = True,
              free_bits: float = 0.0) -> dict[str, list]:
    """Train ``model`` by minimising the one-sample −ELBO with Adam (lesson 6).

    Defaults are the lesson's recipe: ``DEFAULT_EPOCHS`` = 150 epochs of batch 128, Adam with
    learning rate 2e-3 on a cosine schedule, and dynamic binarization of grayscale digits.
    ``train_vae(VAE(latent_dim=20), load_mnist("train", binarize=False)[0])`` on the 4,000
    embedded digits reaches 87.2 nats of test −log p(x) (mean of seeds 0–2: 86.97 / 87.54 /
    87.18; importance sampling, k = 500, on the 1,000 fixed-binarized test digits of
    ``load_mnist("test")``), against 91.4 nats for the earlier 50-epoch recipe on
    fixed-binarized digits. Its training time depends on the machine and its load — on
    the 2-core CPU servers measured, with 2 threads and little other load, 15.4–16.7 s on
    one and 47 s on another — and benchmarks/README.md has each measurement with its machine,
    threads, load and command. GPU figures: not measured.

    Each epoch visits every image once, in a random order, in batches of ``batch_size``; the
    last batch is smaller when ``batch_size`` does not divide N, and it is used too.

    **Dynamic binarization** (Bernoulli decoder only): each epoch trains on a fresh binary
    sample x ~ Bernoulli(intensity) of every grayscale image, rather than on the intensities
    themselves (whose cross-entropy is no likelihood) or on one fixed thresholding (which the
    model soon memorises: 4,000 fixed digits overfit). The data's own noise becomes part of
    the data, so the model learns p(x) of binary images and overfits far less. Images that
    are already binary are unchanged by it. Salakhutdinov & Murray 2008, "On the
    quantitative analysis of deep belief networks", §5; Burda, Grosse & Salakhutdinov 2016,
    "Importance Weighted Autoencoders", §5.

    **CUDA graphs**: on a CUDA device the whole training step (forward, backward, fused
    Adam) is captured once per batch size in a CUDA graph and replayed per batch, because a
    step of this small network costs far more in kernel launches than in GPU work. A few
    warm-up steps run first, on the model's GPU and on the stream the capture then uses,
    under ``torch.cuda.set_sync_debug_mode("error")``: a step that reads a value back from
    the GPU (a model of your own whose distributions validate their arguments, say) cannot
    be captured, and then training goes on eagerly after a one-line warning — nothing was
    captured, so nothing is left half-done. The warm-up's changes (parameters, Adam state,
    random numbers) are undone. A capture that fails after a clean warm-up raises
    ``CudaGraphCaptureError``, which says what failed and what to do: train with
    ``cuda_graph=False``, after restarting the kernel where this PyTorch cannot recover from
    a failed capture. CPU and Apple MPS train eagerly. Both paths are built to draw the same
    random numbers and compute the same updates (tests/test_cuda_path.py checks it on the
    CPU with a stand-in for the graph, and on a CUDA GPU where one is present; GPU speed: not
    measured).

    Args:
        model: a ``VAE``; moved to the chosen device in place.
        train_x: training images (N, 1, 28, 28), float in [0, 1]: grayscale intensities
            (``load_mnist(..., binarize=False)``) or binary pixels.
        epochs: passes over the data, ≥ 1.
        batch_size: images per gradient step, ≥ 1.
        lr: Adam's peak learning rate, > 0 (the rate of the first epoch).
        device: ``"auto"`` (CUDA, then Apple MPS, then CPU), or a device name.
        test_x: optional held-out images, evaluated (−ELBO, recon, KL) after every epoch, as
            given (not binarized by this function); checked once and moved to the device once.
        progress: show a tqdm progress bar over epochs.
        seed: seeds the shuffling, the binarization and the reparameterization noise
            (``None``: not seeded).
        beta: weight of the KL term in the training loss recon + beta · KL (1 = the ELBO;
            0 drops the KL, which makes the model a plain autoencoder with noisy codes).
            Higgins et al. 2017, "β-VAE".
        kl_warmup: epochs over which the KL weight rises linearly from beta/kl_warmup to
            beta ("KL annealing"; Bowman et al. 2016, §3.1); 0 = no warm-up.
        lr_schedule: ``"cosine"`` — lr · ½ (1 + cos(π (epoch − 1)/epochs)) in each epoch
            (``cosine_lr``; Loshchilov & Hutter 2017, "SGDR", eq. 5) — or ``"constant"``.
        dynamic_binarization: ``None`` (default) — on for a Bernoulli decoder when
            ``train_x`` is grayscale (some pixel neither 0 nor 1), off otherwise; ``True`` /
            ``False`` to force it. Never applied with a Gaussian decoder.
        cuda_graph: on CUDA, capture the step in CUDA graphs (default); ``False`` trains
            eagerly, as on the other devices (for comparisons).
        free_bits: λ ≥ 0 nats per latent unit: train recon + beta · Σ_j max(λ, KL_j) instead of
            recon + beta · KL, KL_j being unit j's KL averaged over the batch
            (``negative_elbo``; Kingma et al. 2016, "Improved Variational Inference with
            Inverse Autoregressive Flow", appendix C.8; lesson 6c). 0 = the ELBO.
    Returns:
        history: dict of per-epoch lists — ``epoch``, ``train_loss``, ``train_recon``,
        ``train_kl`` (means over the epoch's images, nats per image), ``seconds``
        (wall-clock per epoch), ``lr`` (the learning rate used in the epoch), ``beta`` (the KL
        weight used in the epoch), and ``test_loss``, ``test_recon``, ``test_kl`` when
        ``test_x`` is given; plus ``device`` (str), ``dynamic_binarization`` (bool, whether it
        was applied) and ``cuda_graph`` (bool, whether graph replay was used).
        ``train_loss`` is always recon + KL, the −ELBO (of the binarized samples, when
        dynamic binarization is on), whatever the KL weight or free bits.
    Raises:
        ValueError: bad shapes or hyper-parameters (the message names the argument), an
            unavailable device (or a CUDA index the machine does not have), NaN or values outside [0, 1] in ``train_x`` or ``test_x``
            (``vae_utils.validate``; integers of any integer type are accepted, float64 images
            are converted to the model's dtype), or ``dynamic_binarization=True`` with a
            Gaussian decoder.
        FloatingPointError: the loss became NaN or infinite (the message names the epoch).
        CudaGraphCaptureError: on CUDA with ``cuda_graph=True``, the capture failed after a
            clean warm-up (see **CUDA graphs**).
    """
    epochs, batch_size = validate.count(epochs, "epochs"), validate.count(batch_size, "batch_size")
    lr = validate.number(lr, "lr", minimum=0)
    beta = validate.number(beta, "beta", minimum=0, strict=False)
    kl_warmup = validate.count(kl_warmup, "kl_warmup", minimum=0)
    free_bits = validate.number(free_bits, "free_bits", minimum=0, strict=False)
    if lr_schedule not in _LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {_LR_SCHEDULES}, got {lr_schedule!r}.")
    if not (dynamic_binarization is None or isinstance(dynamic_binarization, bool)):
        raise ValueError(f"dynamic_binarization must be None (automatic), True or False, got "
                         f"{dynamic_binarization!r}.")
    if not isinstance(cuda_graph, bool):
        raise ValueError(f"cuda_graph must be True or False, got {cuda_graph!r}.")
    gaussian = getattr(model, "likelihood_name", "bernoulli") == "gaussian"
    if dynamic_binarization and gaussian:
        raise ValueError("dynamic_binarization=True needs a Bernoulli decoder; a Gaussian decoder "
                         "(VAE(likelihood='gaussian')) models the grayscale values themselves.")
    dev = pick_device(device)
    # The shapes first (no value read, nothing moved), then the model moves, then the data are
    # checked once where they live and moved once, to the model's device and dtype.
    validate.images(train_x, "train_x", check_values=False)
    if test_x is not None:
        validate.images(test_x, "test_x", check_values=False)
    model.to(dev).train()
    data = validate.images(train_x, "train_x", like=model)
    if test_x is not None:
        test_x = validate.images(test_x, "test_x", like=model)
    if seed is not None:
        torch.manual_seed(seed)
    n = len(data)
    if dynamic_binarization is None:
        dynamic_binarization = not gaussian and _is_grayscale(data)
    opt = _adam(model.parameters(), lr, dev)
    weight = torch.ones((), device=dev)  # the KL weight, a tensor so a captured step reads it
    sums = torch.zeros(3, device=dev)    # Σ over the epoch of (−ELBO, recon, KL) × batch size
    step = _Step(model, opt, weight, sums, free_bits)
    graphed = None
    backend = _graph_backend(dev) if cuda_graph else None
    if backend is not None and backend.unsupported(opt):
        warnings.warn(f"train_vae: the training step cannot be captured in a CUDA graph: "
                      f"{backend.unsupported(opt)}; training eagerly.", RuntimeWarning, stacklevel=2)
        backend = None
    if backend is not None:
        sizes = sorted({min(batch_size, n), n % batch_size} - {0})
        try:
            graphed = _GraphedSteps(step, sizes, data, backend)
        except _NotCapturable as e:  # nothing was captured: the eager loop is safe
            warnings.warn(f"train_vae: the training step cannot be captured in a CUDA graph: its "
                          f"warm-up, run with host syncs forbidden as in a capture, stopped ({e}); "
                          f"a step that reads values back from the GPU (torch.distributions' "
                          f"argument validation, .item(), a Python number made a tensor) is not "
                          f"capturable. Training eagerly (pass cuda_graph=False to skip the attempt).",
                          RuntimeWarning, stacklevel=2)

    hist: dict[str, list] = {k: [] for k in ("epoch", "train_loss", "train_recon", "train_kl", "seconds",
                                             "lr", "beta")}
    if test_x is not None:
        hist.update(test_loss=[], test_recon=[], test_kl=[])
    hist["device"] = str(dev)
    hist["dynamic_binarization"] = bool(dynamic_binarization)
    hist["cuda_graph"] = graphed is not None

    bar = range(1, epochs + 1)
    if progress:
        bar = progress_bar(bar, desc=f"training on {dev.type}", unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        lr_e = cosine_lr(lr, epoch, epochs) if lr_schedule == "cosine" else float(lr)
        w_e = beta * min(1.0, epoch / kl_warmup) if kl_warmup else float(beta)
        _set_lr(opt, lr_e)
        weight.fill_(w_e)
        sums.zero_()
        epoch_x = data[torch.randperm(n, device=dev)]
        if dynamic_binarization:  # x ~ Bernoulli(intensity): P(U < p) = p for U ~ Uniform(0, 1)
            epoch_x = (torch.rand_like(epoch_x) < epoch_x).to(epoch_x.dtype)
        for i in range(0, n, batch_size):
            xb = epoch_x[i:i + batch_size]
            (graphed or step)(xb)
        loss_e, recon_e, kl_e = (sums / n).tolist()  # one device sync per epoch
        if not all(math.isfinite(v) for v in (loss_e, recon_e, kl_e)):
            raise FloatingPointError(
                f"training diverged at epoch {epoch}: −ELBO = {loss_e} (recon {recon_e}, KL {kl_e}). "
                f"Lower the learning rate (lr={lr}) or check the data for NaN/inf values.")
        hist["epoch"].append(epoch)
        hist["lr"].append(lr_e)
        hist["beta"].append(w_e)
        hist["train_loss"].append(loss_e)
        hist["train_recon"].append(recon_e)
        hist["train_kl"].append(kl_e)
        if test_x is not None:
            ev = _evaluate(model, test_x, 1000)  # checked and moved once, above
            model.train()
            for k in ("loss", "recon", "kl"):
                hist[f"test_{k}"].append(ev[k])
        hist["seconds"].append(time.perf_counter() - t0)
        if progress:
            post = {"train": f"{loss_e:.1f}"}
            if test_x is not None:
                post["test"] = f"{hist['test_loss'][-1]:.1f}"
            bar.set_postfix(post)
    model.eval()
    return hist

"""CPU stand-ins for a CUDA GPU, for the tests of the CUDA path (tests/test_cuda_path.py).

* ``OpCounter`` — a ``TorchDispatchMode`` that counts the operations a GPU would pay for
  outside its kernels: host syncs (a value read back: ``aten._local_scalar_dense`` behind
  ``.item()``, ``.tolist()``, ``bool(t)``; ``nonzero``, ``equal``, ``allclose``) and
  scalar-to-tensor ops (``aten.lift_fresh``, ``aten.scalar_tensor`` — a Python number made
  into a tensor, a host-to-device copy on a GPU; copies from the CPU to another device).
  Each of these is forbidden inside a CUDA-graph capture.
* ``FakeCuda`` — ``FakeTensorMode`` with fake CUDA tensors (metadata only, no values, no GPU
  needed): an operation that mixes a CUDA and a CPU tensor raises
  ``FakeTensorDeviceMismatchError`` exactly where a real GPU would raise. On top of it an
  ``OpCounter`` records syncs and copies; it makes a CPU → CUDA copy a fake CUDA tensor (a
  CPU-only torch cannot copy to CUDA) and answers a value read-back with a stand-in: False
  for ``any()``, True for ``all()``, 0.5 for other floats, 0 for integers.
  What a CPU-only torch (2.13) cannot do with fake CUDA tensors, and how this module copes:
  Python indexing (``t[i:j]``, ``t[idx]``) asks C++ for a CUDA device guard — ``FakeCuda``
  indexes fake CUDA tensors through ``narrow``-like ops instead; ``.to("cuda")`` of a CPU
  tensor fails — the ``OpCounter`` returns the fake copy; autograd through a fake CUDA tensor
  aborts the process — fake models have no gradients, so backward passes and optimizer steps
  are checked by the dispatch scan and the fake graph backend on the CPU instead.
* ``FakeGraphBackend`` — the graph backend of ``vae_utils.train`` without a GPU: "capture"
  records the step, "replay" calls it; it records which stream and device context every
  warm-up step and capture ran in, and checks warm-up steps for syncs as the real one does
  with ``torch.cuda.set_sync_debug_mode("error")``.
"""
from __future__ import annotations

import contextlib
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

SYNC_OPS = {
    aten._local_scalar_dense.default, aten.nonzero.default, aten.equal.default,
    aten.allclose.default, aten.is_nonzero.default,
}
SCALAR_TO_TENSOR_OPS = {aten.lift_fresh.default, aten.lift_fresh_copy.default,
                        aten.scalar_tensor.default}
COPY_OPS = {aten._to_copy.default, aten.copy_.default, aten.to.device, aten.to.dtype_layout}


def _devices(args, kwargs):
    out = []
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor):
            out.append(a.device)
    return out


class OpCounter(TorchDispatchMode):
    """Counts host syncs, scalar-to-tensor ops and cross-device copies of the code it wraps.

    ``counts`` is a ``Counter`` with keys ``"sync"``, ``"scalar_to_tensor"``, ``"h2d"``
    (CPU → another device), ``"d2h"`` and ``"ops"`` (all operations); ``syncs`` and
    ``scalars`` list the op names, in order.
    """

    def __init__(self, fake_values: bool = False):
        super().__init__()
        self.fake_values = fake_values
        self.counts: Counter = Counter()
        self.syncs: list[str] = []
        self.scalars: list[str] = []

    def _stand_in(self, t: torch.Tensor):
        if t.dtype == torch.bool:
            return getattr(t, "_made_by", "any") == "all"
        if t.is_floating_point():
            return 0.5
        return 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.counts["ops"] += 1
        if func in SYNC_OPS:
            self.counts["sync"] += 1
            self.syncs.append(str(func))
            if self.fake_values and func is aten._local_scalar_dense.default:
                return self._stand_in(args[0])
        if func in SCALAR_TO_TENSOR_OPS:
            self.counts["scalar_to_tensor"] += 1
            self.scalars.append(str(func))
        if func in COPY_OPS:
            src = args[1] if func is aten.copy_.default else args[0]
            if func is aten.copy_.default:
                dst_dev = args[0].device
            else:
                dst_dev = kwargs.get("device", args[1] if func is aten.to.device else None)
            if isinstance(src, torch.Tensor) and dst_dev is not None:
                dst_dev = torch.device(dst_dev)
                if src.device.type == "cpu" and dst_dev.type != "cpu":
                    self.counts["h2d"] += 1
                elif src.device.type != "cpu" and dst_dev.type == "cpu":
                    self.counts["d2h"] += 1
                if self.fake_values and dst_dev.type == "cuda":
                    # a CPU-only torch cannot copy to CUDA: the fake result of the copy
                    if func is aten.copy_.default:
                        return args[0]
                    if dst_dev.index is None:
                        dst_dev = torch.device("cuda", 0)
                    return torch.empty(src.shape, dtype=kwargs.get("dtype") or src.dtype, device=dst_dev)
        out = func(*args, **kwargs)
        if func in (aten.any.default, aten.any.dim, aten.any.dims, aten._is_any_true.default) \
                and isinstance(out, torch.Tensor):
            out._made_by = "any"  # for the stand-in value of a read-back of it
        elif func in (aten.all.default, aten.all.dim, aten.all.dims, aten._is_all_true.default) \
                and isinstance(out, torch.Tensor):
            out._made_by = "all"
        return out


def _fake_getitem(t: torch.Tensor, index):
    """``t[index]`` for a fake CUDA tensor, through ops that need no CUDA device guard (a
    CPU-only torch's C++ indexing asks for one and fails): ints, slices, None, ``...`` and
    one-dimensional integer tensors, as the code under test uses them."""
    index = index if isinstance(index, tuple) else (index,)
    if any(k is Ellipsis for k in index):
        i = index.index(Ellipsis)
        used = sum(k is not None and k is not Ellipsis for k in index)
        index = index[:i] + (slice(None),) * (t.dim() - used) + index[i + 1:]
    out, dim = t, 0
    for k in index:
        if k is None:
            out = out.unsqueeze(dim)
            dim += 1
        elif isinstance(k, slice):
            start, stop, step = k.indices(out.shape[dim])
            out = aten.slice.Tensor(out, dim, start, max(start, stop), step)
            dim += 1
        elif isinstance(k, int):
            out = out.select(dim, k)
        elif isinstance(k, torch.Tensor) and k.dim() == 1 and not k.is_floating_point() and k.dtype != torch.bool:
            out = out.index_select(dim, k)
            dim += 1
        else:
            raise NotImplementedError(f"cuda_fakes: index {k!r} of a fake CUDA tensor")
    return out


class FakeCuda:
    """``with FakeCuda() as fc:`` — fake CUDA tensors on a CPU-only machine; ``fc.counter``
    (an ``OpCounter``) records syncs and copies; ``fc.cuda(model)`` puts a module's
    parameters and buffers on the fake GPU."""

    def __init__(self):
        from torch._subclasses.fake_tensor import FakeTensorMode
        self.fake = FakeTensorMode(allow_non_fake_inputs=True)
        self.counter = OpCounter(fake_values=True)
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        from torch._subclasses.fake_tensor import FakeTensor
        original = torch.Tensor.__getitem__

        def getitem(t, index):
            if isinstance(t, FakeTensor) and t.device.type == "cuda":
                return _fake_getitem(t, index)
            return original(t, index)

        torch.Tensor.__getitem__ = getitem
        self._stack.callback(setattr, torch.Tensor, "__getitem__", original)
        self._stack.enter_context(self.fake)
        self._stack.enter_context(self.counter)
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    @staticmethod
    def cuda(module: torch.nn.Module) -> torch.nn.Module:
        """Replace every parameter and buffer of ``module`` by a fake CUDA tensor of the same
        shape and dtype (call inside the ``with``); its ``.to(...)`` is then a no-op. The
        parameters do not require gradients: autograd needs a CUDA device guard, which a
        CPU-only torch lacks (the process aborts), so fake-GPU tests run forward passes."""
        for m in module.modules():
            for name, p in list(m._parameters.items()):
                if p is not None:
                    # requires_grad=False: autograd on a fake CUDA tensor aborts a CPU-only torch
                    m._parameters[name] = torch.nn.Parameter(
                        torch.empty(p.shape, dtype=p.dtype, device="cuda"), requires_grad=False)
            for name, b in list(m._buffers.items()):
                if b is not None:
                    m._buffers[name] = torch.empty(b.shape, dtype=b.dtype, device="cuda")
        # Module.to swaps fake parameters even when they are on the device already, which a
        # fake tensor refuses; on the fake GPU the model is where .to(cuda) would put it.
        module.to = lambda *args, **kwargs: module
        return module

    def reset(self):
        self.counter.counts.clear()
        self.counter.syncs.clear()
        self.counter.scalars.clear()


class FakeGraphBackend:
    """The graph backend of ``vae_utils.train._GraphedSteps`` (``_CudaGraphBackend``'s
    methods), on the CPU.

    "Capture" records the step without running it (a CUDA capture runs no kernel); "replay"
    calls it. The warm-up runs under an ``OpCounter`` and fails on a host sync or a
    scalar-to-tensor op, as ``torch.cuda.set_sync_debug_mode("error")`` fails it on a GPU.
    ``log`` records ("warmup" | "capture", device context, stream) for the warm-up and for
    each capture; ``fail_capture`` (an exception) makes captures raise it, ``recovers``
    is what ``recovered()`` answers after a failure.
    """

    def __init__(self, device="cpu"):
        self.device = torch.device(device)
        self.log: list[tuple[str, object, object]] = []
        self.current_device = None
        self.current_stream = None
        self.streams = 0
        self.captured = 0
        self.replays = 0
        self.fail_capture: BaseException | None = None
        self.recovers = True

    @staticmethod
    def unsupported(opt):
        return None  # the CPU's Adam, replayed eagerly: any optimizer will do

    @contextlib.contextmanager
    def device_context(self):
        prev, self.current_device = self.current_device, self.device
        try:
            yield
        finally:
            self.current_device = prev

    def new_stream(self):
        self.streams += 1
        return f"stream {self.streams}"

    @contextlib.contextmanager
    def stream_context(self, stream):
        prev, self.current_stream = self.current_stream, stream
        try:
            yield
        finally:
            self.current_stream = prev

    def synchronize(self):
        pass

    @contextlib.contextmanager
    def forbid_syncs(self):
        self.log.append(("warmup", self.current_device, self.current_stream))
        counter = OpCounter()
        with counter:
            yield
        found = counter.syncs + counter.scalars
        if found:
            raise RuntimeError(f"called a synchronizing CUDA operation ({found[0]})")

    def get_rng_state(self):
        return torch.get_rng_state()

    def set_rng_state(self, state):
        torch.set_rng_state(state)

    def capture(self, fn, stream):
        self.log.append(("capture", self.current_device, stream if stream == self.current_stream else
                         f"{stream} captured while {self.current_stream} is current"))
        if self.fail_capture is not None:
            raise self.fail_capture
        self.captured += 1

        def replay():
            self.replays += 1
            fn()
        return replay

    def recovered(self, stream) -> bool:
        assert self.current_stream is None, "recovery is checked on the restored stream"
        return self.recovers

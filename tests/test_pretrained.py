import json

import pytest
import torch

from vae_utils.data import load_mnist
from vae_utils.pretrained import PRETRAINED, TRAINING_RECORDS, load_pretrained, weights_path
from vae_utils.train import evaluate
from vae_utils.vae import VAE

# Test −ELBO (one sample, nats per image) of the shipped models on the 1,000 embedded test
# digits, as scripts/train_course_model.py printed it when it wrote them (mlp20 92.50, mlp2
# 154.54), plus a margin of 1.5 nats for the one-sample noise (its s.e. over 1,000 digits is
# ≈ 0.2 nats) and float differences between machines. A 20-D model of the earlier 50-epoch
# recipe scores about 101, so the bound tells the recipe's model from a weaker one. conv20: its
# record's test −ELBO (TRAINING_RECORDS) plus the same margin.
BOUND = {"mlp20": 94.0, "mlp2": 156.0, "conv20": 97.5}


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_shipped_model_loads_and_is_good(name):
    path = weights_path(name)
    assert path.stat().st_size < 3_000_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values())
    model = load_pretrained(name)
    assert isinstance(model, VAE) and not model.training
    assert model.latent_dim == PRETRAINED[name]["latent_dim"]
    test_x, _ = load_mnist("test", source="embedded")
    torch.manual_seed(0)
    assert evaluate(model, test_x)["loss"] < BOUND[name]


def test_unknown_name_and_missing_file(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        load_pretrained("mlp3")
    import vae_utils.pretrained as pre
    monkeypatch.setattr(pre, "weights_path", lambda name: tmp_path / f"vae_{name}.pt")
    with pytest.raises(FileNotFoundError, match=r"train_course_model\.py --models mlp20"):
        pre.load_pretrained("mlp20")


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_every_shipped_model_has_a_training_record(name):
    rec = TRAINING_RECORDS[name]
    assert rec["epochs"] == 150
    assert rec["test_neg_log_px_is_k500"] < rec["test_neg_elbo"] < BOUND[name]


def test_the_conv20_record_is_the_one_the_training_script_wrote():
    # scripts/train_course_model.py writes vae_<name>.json next to the weights; the package
    # quotes it in TRAINING_RECORDS (the JSON itself is not installed with the package).
    written = json.loads(weights_path("conv20").with_suffix(".json").read_text())
    assert written["vae_kwargs"] == PRETRAINED["conv20"]
    assert written["parameters"] == sum(p.numel() for p in VAE(**PRETRAINED["conv20"]).parameters())
    for key, value in TRAINING_RECORDS["conv20"].items():
        assert written[key] == value, key

import importlib

from vae_utils import data


def test_setup_check_reports_ready_here(capsys):
    from vae_utils.setup_check import check_setup
    report = check_setup()
    assert report["ok"], report["problems"]
    assert "checksum verified" in report["data"] and "✓ ready" in capsys.readouterr().out


def test_setup_check_names_missing_data_and_missing_modules(tmp_path, monkeypatch, capsys):
    # A partial install: the packaged digits gone and vae_utils.checks not importable.
    from vae_utils.setup_check import check_setup
    monkeypatch.setattr(data, "embedded_path", lambda: tmp_path / "mnist5k.npz")
    real = importlib.import_module

    def import_module(name, package=None):
        if name == "vae_utils.checks":
            raise ModuleNotFoundError("No module named 'vae_utils.checks'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    report = check_setup()
    assert not report["ok"]
    assert any("mnist5k.npz" in p and "pip install --force-reinstall" in p for p in report["problems"])
    assert any(p.startswith("vae_utils.checks cannot be imported") for p in report["problems"])
    assert "✗ fix these first" in capsys.readouterr().out

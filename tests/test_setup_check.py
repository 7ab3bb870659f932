def test_setup_check_reports_ready_here_and_problems_when_data_is_gone(tmp_path, monkeypatch, capsys):
    from vae_utils.setup_check import check_setup
    report = check_setup()
    assert report["ok"], report["problems"]
    assert "checksum verified" in report["data"] and "✓ ready" in capsys.readouterr().out
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    report = check_setup()
    assert not report["ok"] and any("mnist5k.npz" in p for p in report["problems"])
    assert "✗ fix these first" in capsys.readouterr().out

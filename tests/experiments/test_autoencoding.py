"""What the autoencoder studies share: config checks, the exported models, schedule wording."""

import subprocess
import sys

import pytest
import torch

from stridelab.errors import ConfigError
from stridelab.experiments import ae_denoise, autoencoding, corruption_demo, pca_vs_linear_ae
from stridelab.torch.models.autoencoders import ConvAutoencoder, MLPAutoencoder


@pytest.mark.parametrize("config, fragment", [
    (ae_denoise.DenoiseConfig(noise_std=-0.1), "noise_std"),
    (autoencoding.AEConfig(epochs=0), "epochs"),
    (pca_vs_linear_ae.LinearAEConfig(hidden=(128, 0)), "hidden"),
    (corruption_demo.CorruptionConfig(x_low=1.0, x_high=-1.0), "x_low"),
    (autoencoding.ConvAEConfig(warmup=1.0), "warmup"),
    (autoencoding.ConvAEConfig(warmup=-0.1), "warmup"),
])
def test_bad_configs_raise_config_errors(config, fragment):
    with pytest.raises(ConfigError, match=fragment):
        autoencoding.check_config(config)
    autoencoding.check_config(type(config)())  # the defaults are valid


_LOAD_IN_PLAIN_TORCH = """
import sys
import torch
program = torch.export.load(sys.argv[1]).module()
x = torch.load(sys.argv[2], weights_only=True)
torch.save(program(x), sys.argv[3])
loaded = sorted(m for m in sys.modules if m == "stridelab" or m.startswith("stridelab."))
assert not loaded, f"stridelab was imported: {loaded}"
"""


def _plain_torch_output(pt2, x, tmp_path):
    """Run ``pt2`` on ``x`` in a fresh interpreter that imports torch only."""
    torch.save(x, tmp_path / "x.pt")
    subprocess.run([sys.executable, "-c", _LOAD_IN_PLAIN_TORCH, str(pt2), str(tmp_path / "x.pt"),
                    str(tmp_path / "y.pt")], check=True, cwd=tmp_path, capture_output=True,
                   timeout=300)
    return torch.load(tmp_path / "y.pt", weights_only=True)


@pytest.mark.parametrize("name, stem, model", [
    ("ae-linear", "mnist_ae", lambda: MLPAutoencoder()),
    ("ae-conv", "mnist_cae", lambda: ConvAutoencoder()),
    ("ae-conv-skip", "mnist-cae-skip", lambda: ConvAutoencoder(skip=True)),
])
def test_the_sheets_models_run_in_plain_pytorch_as_exported_programs(smoke_runs, tmp_path, name,
                                                                      stem, model):
    result = smoke_runs.ok(name)
    reference = model()
    reference.load_state_dict(torch.load(result.out / f"{stem}.pt", weights_only=True))
    reference.eval()
    # a batch size other than the example's (2): the program takes any batch
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = _plain_torch_output(result.out / f"{stem}.pt2", x, tmp_path)
    with torch.no_grad():
        expected = reference(x)
    assert y.shape == (5, 1, 28, 28)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
    assert not list(result.out.glob(".*.tmp"))  # written atomically


def test_schedule_text_follows_the_config():
    constant = autoencoding.schedule_text(autoencoding.AEConfig(lr=0.002, cosine=False))
    cosine = autoencoding.schedule_text(pca_vs_linear_ae.LinearAEConfig(lr=0.001, cosine=True, warmup=0.0))
    one_cycle = autoencoding.schedule_text(autoencoding.ConvAEConfig(lr=0.003, warmup=0.2))
    assert "0.002" in constant and "cosine" not in constant
    assert "0.001" in cosine and "cosine" in cosine and "rising" not in cosine
    assert "0.003" in one_cycle and "0.2" in one_cycle and "rising" in one_cycle

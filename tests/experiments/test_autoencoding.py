"""What the autoencoder studies share: config bounds, the exported models, schedule wording."""

import subprocess
import sys

import pytest
import torch

from stridelab.errors import ConfigError
from stridelab.experiments import autoencoding, pca_vs_linear_ae
from stridelab.experiments.registry import get
from stridelab.programs.prob5_AE import MLPAutoencoder
from stridelab.programs.prob6_CAE import ConvAutoencoder


@pytest.mark.parametrize("name, key, text, fragment", [
    ("ae-denoise", "noise_std", "-0.1", "noise_std must be at least 0"),
    ("ae-linear", "epochs", "0", "epochs must be at least 1"),
    ("ae-linear", "knn_k", "0", "knn_k must be at least 1"),
    ("pca-vs-linear-ae", "hidden", "128,0", "each value of hidden must be at least 1"),
    ("pca-vs-linear-ae", "variance_span", "1.5", "variance_span must be at most 1"),
    ("corruption-demo", "x_low", "1", "--set x_low=1: x_high must be greater than x_low (1)"),
    ("ae-conv", "warmup", "1", "warmup must be less than 1"),
    ("ae-conv-skip", "warmup", "-0.1", "warmup must be at least 0"),
])
def test_bad_configs_are_refused_by_the_declared_bounds(name, key, text, fragment):
    with pytest.raises(ConfigError) as info:
        get(name).make_config(overrides={key: text})
    assert fragment in str(info.value)
    get(name).make_config()  # the defaults are valid


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

"""The autoencoders: architectures layer by layer, the skip wiring, dead units, noise, export."""

import pytest
import torch
from torch import nn

from stridelab.programs.prob5_AE import MLPAutoencoder
from stridelab.programs.prob6_CAE import ConvAutoencoder
from stridelab.torch import reconstruction as rc

# ---------------------------------------------------------------------------------------------
# architectures


def _spec(module: nn.Module):
    """A comparable description of one layer."""
    if isinstance(module, nn.Linear):
        return ("Linear", module.in_features, module.out_features)
    if isinstance(module, nn.Conv2d):
        return ("Conv", module.in_channels, module.out_channels, module.kernel_size,
                module.stride, module.padding)
    if isinstance(module, nn.MaxPool2d):
        return ("MaxPool", module.kernel_size, module.stride)
    if isinstance(module, nn.Upsample):
        return ("Upsample", module.scale_factor, module.mode)
    if isinstance(module, nn.Unflatten):
        return ("Unflatten", tuple(module.unflattened_size))
    return (type(module).__name__,)


def _shapes(sequential: nn.Sequential, x: torch.Tensor):
    out = []
    for layer in sequential:
        x = layer(x)
        out.append(tuple(x.shape))
    return out


def test_mlp_autoencoder_layers_and_shapes():
    model = MLPAutoencoder()
    assert [_spec(m) for m in model.encoder] == [
        ("Flatten",), ("Linear", 784, 128), ("ReLU",), ("Linear", 128, 64), ("ReLU",),
        ("Linear", 64, 12), ("ReLU",), ("Linear", 12, 2)]
    assert [_spec(m) for m in model.decoder] == [
        ("Linear", 2, 12), ("ReLU",), ("Linear", 12, 64), ("ReLU",), ("Linear", 64, 128),
        ("ReLU",), ("Linear", 128, 784), ("Unflatten", (1, 28, 28))]
    x = torch.rand(5, 1, 28, 28)
    assert model.encode(x).shape == (5, 2)
    assert model.decode(torch.zeros(5, 2)).shape == (5, 1, 28, 28)
    assert model(x).shape == (5, 1, 28, 28)
    # 784·128+128 + 128·64+64 + 64·12+12 + 12·2+2, and the mirror image
    encoder_params = 100480 + 8256 + 780 + 26
    decoder_params = 36 + 832 + 8320 + 101136
    assert sum(p.numel() for p in model.parameters()) == encoder_params + decoder_params


def test_linear_autoencoder_has_no_nonlinearity_and_its_affine_maps_reproduce_it():
    torch.manual_seed(0)
    model = MLPAutoencoder(activation=False).double()
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    A, a, B, b = model.affine_maps()
    assert A.shape == (2, 784) and B.shape == (784, 2) and a.shape == (2,) and b.shape == (784,)
    # Flatten, then four Linear layers and nothing between them
    assert [_spec(m) for m in model.encoder] == [
        ("Flatten",), ("Linear", 784, 128), ("Linear", 128, 64), ("Linear", 64, 12),
        ("Linear", 12, 2)]
    e = model.encoder
    A_by_hand = e[4].weight @ e[3].weight @ e[2].weight @ e[1].weight  # (2, 784)
    torch.testing.assert_close(A, A_by_hand)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    z = x.reshape(4, 784) @ A.T + a  # (4, 2)
    torch.testing.assert_close(model.encode(x), z)
    torch.testing.assert_close(model(x).reshape(4, 784), z @ B.T + b)
    with pytest.raises(ValueError, match="activation=False"):
        MLPAutoencoder().affine_maps()


def test_conv_autoencoder_layers_exactly_as_specified():
    model = ConvAutoencoder()
    assert [_spec(m) for m in model.encoder] == [
        ("Conv", 1, 4, (3, 3), (1, 1), (1, 1)), ("ReLU",), ("MaxPool", 2, 2),
        ("Conv", 4, 8, (3, 3), (1, 1), (1, 1)), ("ReLU",), ("MaxPool", 2, 2),
        ("Flatten",), ("Linear", 392, 20), ("ReLU",), ("Linear", 20, 2)]
    assert [_spec(m) for m in model.decoder] == [
        ("Linear", 2, 20), ("ReLU",), ("Linear", 20, 392), ("ReLU",),
        ("Unflatten", (8, 7, 7)), ("Upsample", 2.0, "nearest"),
        ("Conv", 8, 4, (3, 3), (1, 1), (1, 1)), ("ReLU",), ("Upsample", 2.0, "nearest"),
        ("Conv", 4, 1, (3, 3), (1, 1), (1, 1)), ("Sigmoid",)]
    x = torch.rand(3, 1, 28, 28)
    assert _shapes(model.encoder, x) == [
        (3, 4, 28, 28), (3, 4, 28, 28), (3, 4, 14, 14), (3, 8, 14, 14), (3, 8, 14, 14),
        (3, 8, 7, 7), (3, 392), (3, 20), (3, 20), (3, 2)]
    assert _shapes(model.decoder, torch.zeros(3, 2)) == [
        (3, 20), (3, 20), (3, 392), (3, 392), (3, 8, 7, 7), (3, 8, 14, 14), (3, 4, 14, 14),
        (3, 4, 14, 14), (3, 4, 28, 28), (3, 1, 28, 28), (3, 1, 28, 28)]
    # conv 1·4·9+4, 4·8·9+8; linear 392·20+20, 20·2+2 | 2·20+20, 20·392+392; conv 8·4·9+4, 4·9+1
    expected = 40 + 296 + 7860 + 42 + 60 + 8232 + 292 + 37
    assert sum(p.numel() for p in model.parameters()) == expected == 16859
    assert sum(p.numel() for p in ConvAutoencoder(skip=True).parameters()) == expected
    y = model(x).detach()
    assert y.shape == (3, 1, 28, 28) and float(y.min()) > 0 and float(y.max()) < 1


def test_conv_autoencoder_starts_its_relu_linears_with_the_given_bias():
    model = ConvAutoencoder(relu_bias=0.5)
    shapes = [(layer.in_features, layer.out_features) for layer in model.relu_linears()]
    assert shapes == [(392, 20), (2, 20), (20, 392)]  # not 20→2: the embedding is linear
    for layer in model.relu_linears():
        assert torch.equal(layer.bias, torch.full_like(layer.bias, 0.5))
    assert not torch.equal(model.encoder[9].bias, torch.full_like(model.encoder[9].bias, 0.5))
    torch.manual_seed(0)
    default = ConvAutoencoder(relu_bias=None).relu_linears()[0].bias
    assert len(set(default.tolist())) == 20  # PyTorch's random biases are kept


def test_dead_relu_units_counts_units_no_image_activates():
    model = ConvAutoencoder()
    enc, dec_in, dec_out = model.relu_linears()
    with torch.no_grad():
        for layer in (enc, dec_in, dec_out):
            layer.weight.zero_()  # every pre-activation is its bias, whatever the image
            layer.bias.fill_(1.0)
        enc.bias[:5] = -1.0
        dec_out.bias[100:107] = 0.0  # exactly 0 is no activation either
    dead = rc.dead_relu_units(model, torch.rand(10, 1, 28, 28), "cpu", batch_size=4)
    assert dead == {"392→20": 5, "2→20": 0, "20→392": 7}
    assert not any(layer._forward_hooks for layer in model.relu_linears())  # hooks removed


def test_skip_connections_add_each_pooled_map_before_its_mirror_upsampling():
    torch.manual_seed(1)
    model = ConvAutoencoder(skip=True)
    e, d = model.encoder, model.decoder
    x = torch.rand(2, 1, 28, 28)
    p1 = e[2](e[1](e[0](x)))  # (2, 4, 14, 14)
    p2 = e[5](e[4](e[3](p1)))  # (2, 8, 7, 7)
    z = e[9](e[8](e[7](e[6](p2))))  # (2, 2)
    h = d[4](d[3](d[2](d[1](d[0](z)))))  # (2, 8, 7, 7)
    h = d[7](d[6](d[5](h + p2)))  # (2, 4, 14, 14)
    by_hand = d[10](d[9](d[8](h + p1)))  # (2, 1, 28, 28)
    torch.testing.assert_close(model(x), by_hand)

    z2, pooled = model.encode_with_skips(x)
    assert [tuple(p.shape) for p in pooled] == [(2, 4, 14, 14), (2, 8, 7, 7)]
    torch.testing.assert_close(z2, model.encode(x))
    # without skips the same weights compute the plain model; with them the output changes
    plain = ConvAutoencoder(skip=False)
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model.decode(z2, None), plain(x))
    assert not torch.allclose(model(x), plain(x))


# ---------------------------------------------------------------------------------------------
# corruption


def test_gaussian_noise_is_seeded_fresh_per_batch_and_of_the_right_size():
    x = torch.full((400, 1, 28, 28), 0.5)
    first, second = rc.GaussianNoise(0.3, seed=7), rc.GaussianNoise(0.3, seed=7)
    a1, a2 = first(x), first(x)
    torch.testing.assert_close(a1, second(x))  # same seed, same first batch
    assert not torch.equal(a1, a2)  # a new corruption for every batch
    eps = (a1 - x).double()
    # 313,600 draws: the sample std is within 0.3 ± 0.002 with overwhelming probability
    assert abs(float(eps.std()) - 0.3) < 2e-3 and abs(float(eps.mean())) < 2e-3


def test_corrupt_is_deterministic_and_unclipped():
    x = torch.zeros(50, 1, 28, 28)
    torch.testing.assert_close(rc.corrupt(x, 0.3, seed=3), rc.corrupt(x, 0.3, seed=3))
    assert not torch.equal(rc.corrupt(x, 0.3, seed=3), rc.corrupt(x, 0.3, seed=4))
    noisy = rc.corrupt(x, 0.3, seed=3)
    assert float(noisy.min()) < 0  # no clipping to [0, 1]
    # E[(x̃ − x)²] = σ² = 0.09
    assert float(((noisy - x) ** 2).mean()) == pytest.approx(0.09, rel=0.02)


# ---------------------------------------------------------------------------------------------
# export


def test_a_channels_last_model_exports_without_warnings(tmp_path):
    """Trained models hold channels-last weights; their program saves without torch.export's
    "No complete tensor found in the group!" and computes what the model computes."""
    import warnings

    torch.manual_seed(0)
    model = ConvAutoencoder(skip=True).to(memory_format=torch.channels_last).eval()
    assert not model.encoder[3].weight.is_contiguous()  # (8, 4, 3, 3) stored channels-last
    program = rc.export_program(model, torch.rand(2, 1, 28, 28))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.export.save(program, tmp_path / "m.pt2")
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(torch.export.load(tmp_path / "m.pt2").module()(x), model(x))
    assert not model.encoder[3].weight.is_contiguous()  # the model itself is left as it was


def test_an_example_sliced_from_a_large_batch_does_not_travel_into_the_program(tmp_path):
    """The program keeps its example input: a slice ``X[:2]`` must be saved as 2 images, not
    with the storage of all of X."""
    torch.manual_seed(0)
    model = ConvAutoencoder().eval()
    X = torch.rand(2000, 1, 28, 28)  # 6.3 MB of images
    torch.export.save(rc.export_program(model, X[:2]), tmp_path / "m.pt2")
    torch.export.save(rc.export_program(model, X[:2].clone()), tmp_path / "own.pt2")
    size, own = (tmp_path / "m.pt2").stat().st_size, (tmp_path / "own.pt2").stat().st_size
    assert size < 1_000_000 and abs(size - own) < 10_000, (size, own)

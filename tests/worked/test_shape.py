"""stridelab shape: hand-computed chains, measured against torch layers and the NumPy engine."""

import argparse
import json

import numpy as np
import pytest

from stridelab.errors import ConfigError, StridelabError
from stridelab.worked import _shape as shape

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

SHEET = ["conv:k=4,s=1,p=1,n=8", "pool:k=2,s=2", "flatten", "dense:n=10"]


def measure(modules, x):
    """Run torch modules one by one: channel-last output shapes and parameter counts."""
    shapes, params = [], []
    for m in modules:
        x = m(x)
        s = tuple(x.shape[1:])
        shapes.append(s[1:] + s[:1] if len(s) > 1 else s)  # (C, H, W) -> (H, W, C)
        params.append(sum(p.numel() for p in m.parameters()))
    return shapes, params


class Pad(nn.Module):
    def __init__(self, pads):
        super().__init__()
        self.pads = pads

    def forward(self, x):
        return F.pad(x, self.pads)


def test_sheet_chain_by_hand():
    ans = shape.solve("50x50x1", SHEET)
    # (50 + 2 - 4)/1 + 1 = 49; 8*(4*4*1 + 1) = 136; floor(47/2) + 1 = 24; 24*24*8 = 4608
    assert [r.output_shape for r in ans.layers] == [(49, 49, 8), (24, 24, 8), (4608,), (10,)]
    assert [r.params for r in ans.layers] == [136, 0, 0, 46090]
    assert ans.total_params == 46226
    head = "H' = W' = \u230a(50 + 2\u00b71 \u2212 4)/1\u230b + 1 = 49"
    assert ans.layers[0].formula.startswith(head)
    assert "8\u00b7(4\u00b74\u00b71 + 1) = 136" in ans.layers[0].formula


def test_sheet_chain_matches_torch():
    ans = shape.solve("50x50x1", SHEET)
    mods = [nn.Conv2d(1, 8, 4, 1, 1), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(4608, 10)]
    shapes, params = measure(mods, torch.zeros(1, 1, 50, 50))
    assert [r.output_shape for r in ans.layers] == shapes
    assert [r.params for r in ans.layers] == params


def test_same_padding_and_separable_match_torch():
    ans = shape.solve(
        "32x32x3",
        ["conv:k=3,p=same,n=16", "relu", "dwsep:k=3,n=32,s=2,p=same", "gap", "dense:n=10"],
    )
    # dwsep: 16*(3*3 + 1) depthwise + 32*(16 + 1) pointwise = 160 + 544 = 704
    assert [r.params for r in ans.layers] == [448, 0, 704, 0, 330]
    # same with stride 2 on 32: ceil(32/2) = 16 needs 1 zero, put at the bottom/right
    dwsep = nn.Sequential(
        Pad((0, 1, 0, 1)), nn.Conv2d(16, 16, 3, 2, groups=16), nn.Conv2d(16, 32, 1)
    )
    mods = [
        nn.Conv2d(3, 16, 3, padding="same"),
        nn.ReLU(),
        dwsep,
        nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        nn.Linear(32, 10),
    ]
    shapes, params = measure(mods, torch.zeros(1, 3, 32, 32))
    assert [r.output_shape for r in ans.layers] == shapes
    assert [r.params for r in ans.layers] == params


def test_keras_separable_convention():
    # db=0: no depthwise bias, 3*3*16 + 32*(16 + 1) = 144 + 544 = 688
    ans = shape.solve("8x8x16", ["dwsep:k=3,n=32,db=0"])
    assert ans.layers[0].params == 688
    mods = [nn.Sequential(nn.Conv2d(16, 16, 3, groups=16, bias=False), nn.Conv2d(16, 32, 1))]
    assert measure(mods, torch.zeros(1, 16, 8, 8)) == ([(6, 6, 32)], [688])


def test_conv1d_chain_matches_torch():
    ans = shape.solve("100x4", ["conv1d:k=5,s=2,n=8", "pool:k=2", "flatten", "dense:n=1"])
    assert [r.output_shape for r in ans.layers] == [(48, 8), (24, 8), (192,), (1,)]
    assert ans.total_params == 8 * (5 * 4 + 1) + (192 + 1)
    mods = [nn.Conv1d(4, 8, 5, 2), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(192, 1)]
    shapes, params = measure(mods, torch.zeros(1, 4, 100))
    assert [r.output_shape for r in ans.layers] == shapes
    assert [r.params for r in ans.layers] == params


def test_dilation_avgpool_upsample_bn_match_torch():
    ans = shape.solve(
        "28x28x1",
        ["conv:k=3,d=2,n=4,b=0", "avgpool:k=3,s=2,p=1", "bn", "upsample:s=2", "depthwise:k=3,m=2"],
    )
    # 28 - 2*(3-1) = 24; floor((24 + 2 - 3)/2) + 1 = 12; 12*2 = 24; 24 - 2 = 22
    assert [r.output_shape for r in ans.layers] == [
        (24, 24, 4),
        (12, 12, 4),
        (12, 12, 4),
        (24, 24, 4),
        (22, 22, 8),
    ]
    assert [r.params for r in ans.layers] == [36, 0, 8, 0, 4 * 2 * (9 + 1)]
    mods = [
        nn.Conv2d(1, 4, 3, dilation=2, bias=False),
        nn.AvgPool2d(3, 2, 1),
        nn.BatchNorm2d(4),
        nn.Upsample(scale_factor=2),
        nn.Conv2d(4, 8, 3, groups=4),
    ]
    shapes, params = measure(mods, torch.zeros(1, 1, 28, 28))
    assert [r.output_shape for r in ans.layers] == shapes
    assert [r.params for r in ans.layers] == params


def test_rectangular_kernel_and_input():
    ans = shape.solve("7x9x3", ["conv:k=3x2,s=2,p=same,n=4"])
    # H: ceil(7/2) = 4, W: ceil(9/2) = 5; 4*3*2*3 + 4 = 76
    assert ans.layers[0].output_shape == (4, 5, 4) and ans.layers[0].params == 76
    shapes, params = measure(
        [nn.Sequential(Pad((0, 1, 1, 1)), nn.Conv2d(3, 4, (3, 2), 2))], torch.zeros(1, 3, 7, 9)
    )
    assert shapes == [(4, 5, 4)] and params == [76]


def test_chains_match_the_numpy_engine_summary():
    enn = pytest.importorskip("stridelab.core.nn")
    cases = [
        (
            "50x50x1",
            SHEET,
            (1, 50, 50),
            [enn.Conv2d(1, 8, 4, 1, 1), enn.MaxPool2d(2, 2), enn.Flatten(), enn.Dense(4608, 10)],
        ),
        (
            "32x32x3",
            ["conv:k=3,p=same,n=16", "relu", "dwsep:k=3,n=32,s=2,p=same", "flatten", "dense:n=4"],
            (3, 32, 32),
            [
                enn.Conv2d(3, 16, 3, padding="same"),
                enn.ReLU(),
                enn.DepthwiseSeparableConv2d(16, 32, 3, stride=2, padding="same"),
                enn.Flatten(),
                enn.Dense(16 * 16 * 32, 4),
            ],
        ),
        (
            "28x28x1",
            ["conv:k=3,d=2,n=4,b=0", "avgpool:k=3,s=2,p=1", "upsample:s=2"],
            (1, 28, 28),
            [enn.Conv2d(1, 4, 3, dilation=2, bias=False), enn.AvgPool2d(3, 2, 1), enn.Upsample(2)],
        ),
        (
            "100x4",
            ["conv1d:k=5,s=2,n=8", "flatten", "dense:n=1"],
            (4, 100),
            [enn.Conv1d(4, 8, 5, 2), enn.Flatten(), enn.Dense(48 * 8, 1)],
        ),
    ]
    for inp, layers, chw, modules in cases:
        ans = shape.solve(inp, layers)
        rows = enn.summary(enn.Sequential(*modules), chw).rows  # output shapes (N, C, H, W)
        assert len(rows) == len(ans.layers)
        for mine, theirs in zip(ans.layers, rows):
            s = tuple(theirs.output_shape[1:])
            assert mine.output_shape == (s[1:] + s[:1] if len(s) > 1 else s), (inp, mine.spec)
            assert mine.params == theirs.num_params, (inp, mine.spec)


def test_shapes_match_the_numpy_engine():
    Fe = pytest.importorskip("stridelab.core.functional")
    x = np.zeros((1, 1, 50, 50))
    y = Fe.conv2d(x, np.zeros((8, 1, 4, 4)), stride=1, padding=1)
    y = Fe.max_pool2d(y, 2, 2)
    ans = shape.solve("50x50x1", SHEET)
    assert tuple(np.asarray(getattr(y, "data", y)).shape[1:]) == (8, 24, 24)
    assert ans.layers[1].output_shape == (24, 24, 8)
    y = Fe.conv2d(np.zeros((1, 3, 32, 32)), np.zeros((16, 3, 3, 3)), stride=2, padding="same")
    assert tuple(np.asarray(getattr(y, "data", y)).shape) == (1, 16, 16, 16)
    assert shape.solve("32x32x3", ["conv:k=3,s=2,p=same,n=16"]).output_shape == (16, 16, 16)


def test_json_document(capsys):
    parser = argparse.ArgumentParser()
    shape.add_arguments(parser)
    assert shape.main(parser.parse_args(["--input", "50x50x1", *SHEET, "--json"])) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["input_shape"] == [50, 50, 1]
    assert [layer["spec"] for layer in d["layers"]] == SHEET
    assert [layer["output_shape"] for layer in d["layers"]] == [
        [49, 49, 8],
        [24, 24, 8],
        [4608],
        [10],
    ]
    assert [layer["params"] for layer in d["layers"]] == [136, 0, 0, 46090]
    assert d["total_params"] == 46226
    assert all(isinstance(layer["formula"], str) for layer in d["layers"])


def test_markdown_table():
    md = shape.to_markdown(shape.solve("50x50x1", SHEET))
    assert "| 1 | `conv:k=4,s=1,p=1,n=8` | 49×49×8 |" in md
    assert "136 + 46,090 = 46,226" in md


@pytest.mark.parametrize(
    "inp, layers, fragment",
    [
        ("50x50x1", ["conv:k=4,n=8", "wibble"], "unknown layer 'wibble'"),
        ("50x50x1", ["conv:k=4,q=3,n=8"], "unknown option 'q'"),
        ("50x50x1", ["conv:k=4"], "missing n="),
        ("50x50x1", ["conv:k=four,n=8"], "must be an integer"),
        ("50x50x1", ["conv:k=0,n=8"], "must be >= 1"),
        ("50x50x1", ["conv:k"], "key=value"),
        ("fifty", ["flatten"], "input shape"),
        ("0x5x1", ["flatten"], "input shape"),
        ("3x3x1", ["conv:k=5,n=2"], "does not fit"),
        ("8x8x1", ["conv:k=3,n=2", "dense:n=4"], "flatten"),
        ("100x4", ["conv:k=3,n=2"], "conv1d"),
        ("8x8x1", ["conv1d:k=3,n=2"], "LxC"),
        ("8x8x1", [], "at least one layer"),
        ("8x8x1", ["conv:k=3,n=2,b=2"], "b=2"),
        ("8x8x1", ["dropout:p=2"], "dropout rate"),
        ("64", ["pool:k=2"], "spatial input"),
    ],
)
def test_bad_input(inp, layers, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        shape.solve(inp, layers)
    assert isinstance(info.value, StridelabError) and "\n" not in str(info.value)

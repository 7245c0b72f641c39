"""stridelab shape: hand-computed chains, measured against torch layers and the NumPy engine."""

import argparse
import json

import numpy as np
import pytest

from stridelab.errors import ConfigError, StridelabError
from stridelab.worked import shape
from stridelab.worked.shape import cli as shape_cli

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
    shape_cli.add_arguments(parser)
    assert shape_cli.main(parser.parse_args(["--input", "50x50x1", *SHEET, "--json"])) == 0
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
        ("50x50x1", ["conv:n=4"], "missing k="),
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


# ---------------------------------------------------------------- open filter counts




@pytest.mark.parametrize(
    "layer, size, depth, params",
    [
        # Yale CPSC 663, Problem 4.1, input 50x50: (a), (b) conv, (c), (d) max-pool
        ("conv:k=4,s=1,p=1", 49, "n", "17n"),  # (50 + 2 - 4)/1 + 1; n*(4*4*1 + 1)
        ("conv:k=8,s=5,p=0", 9, "n", "65n"),  # floor(42/5) + 1; n*(8*8*1 + 1)
        ("pool:k=10,s=2,p=2", 23, 1, 0),  # (50 + 4 - 10)/2 + 1; pooling keeps the depth
        ("pool:k=2,s=1,p=0", 49, 1, 0),  # (50 - 2)/1 + 1
    ],
)
def test_sheet_problem_4_1_one_command_each(run_cli, layer, size, depth, params):
    code, out, err = run_cli("shape", "--input", "50x50x1", layer, "--format", "json")
    assert code == 0 and err == ""
    d = json.loads(out)
    assert d["output_shape"] == [size, size, depth]
    assert d["total_params"] == params
    assert d["symbols"] == (["n"] if depth == "n" else [])


def test_open_filter_count_is_carried_on():
    ans = shape.solve("50x50x1", ["conv:k=4,s=1,p=1", "flatten", "dense:n=10"])
    n = shape.Sym.symbol("n")
    assert ans.rows[0].output_shape == (49, 49, n)
    assert ans.rows[0].params == 17 * n
    assert ans.rows[1].output_shape == (49 * 49 * n,)  # 2401n inputs to the dense layer
    assert ans.rows[2].params == 10 * (2401 * n + 1)
    assert str(ans.total_params) == "24027n + 10"
    assert ans.rows[0].params_text == "n\u00b7(4\u00b74\u00b71 + 1) = 17n"
    assert ans.rows[1].shape_text == "49\u00b749\u00b7n = 2401n"
    md = ans.to_markdown()
    assert "17n + (24,010n + 10) = 24,027n + 10" in md
    assert "49×49×n" in md


def test_two_open_counts_get_their_own_symbols():
    ans = shape.solve("8x8x1", ["conv:k=3", "conv:k=3", "gap", "dense:n=2,b=0"])
    # conv 1: n1*(3*3*1 + 1) = 10n1; conv 2 on 6x6xn1: n2*(3*3*n1 + 1) = 9n1n2 + n2
    assert ans.symbols == ["n1", "n2"]
    assert [str(r.params) for r in ans.rows] == ["10n\u2081", "9n\u2081n\u2082 + n\u2082", "0",
                                                  "2n\u2082"]
    assert ans.output == (2,)
    assert str(ans.total_params) == "9n\u2081n\u2082 + 10n\u2081 + 3n\u2082"


def test_open_count_matches_torch_for_any_value():
    ans = shape.solve("50x50x1", ["conv:k=4,s=1,p=1", "flatten", "dense:n=10"])
    for filters in (1, 3, 8):
        mods = [nn.Conv2d(1, filters, 4, 1, 1), nn.Flatten(), nn.Linear(49 * 49 * filters, 10)]
        _, params = measure(mods, torch.zeros(1, 1, 50, 50))
        assert sum(params) == 24027 * filters + 10
        assert ans.total_params.terms == {("n",): 24027, (): 10}


# ---------------------------------------------------------------- reshape and upsample

AUTOENCODER = (
    "conv:k=3,s=1,p=1,n=4 relu pool:k=2,s=2 conv:k=3,s=1,p=1,n=8 relu pool:k=2,s=2 flatten "
    "dense:n=20 relu dense:n=2 dense:n=20 relu dense:n=392 relu reshape:7x7x8 upsample:f=2 "
    "conv:k=3,p=1,n=4 relu upsample:f=2 conv:k=3,p=1,n=1 sigmoid"
)


def test_conv_autoencoder_is_one_spec_and_matches_the_torch_model():
    from stridelab.programs.prob6_CAE import ConvAutoencoder

    ans = shape.solve("28x28x1", AUTOENCODER)
    model = ConvAutoencoder()
    assert ans.total_params == sum(p.numel() for p in model.parameters()) == 16859
    # layer by layer against the model's own modules (channel first there)
    shapes, params = measure(list(model.encoder) + list(model.decoder), torch.zeros(1, 1, 28, 28))
    assert [r.output_shape for r in ans.rows] == shapes
    assert [r.params for r in ans.rows] == params
    assert ans.rows[14].output_shape == (7, 7, 8)  # reshape 392 -> 7x7x8
    assert ans.rows[15].output_shape == (14, 14, 8)  # upsample 7*2
    assert ans.output == (28, 28, 1)


def test_upsample_factor_and_reshape_of_any_shape():
    ans = shape.solve("3x5x2", ["upsample:f=3", "reshape:27x10", "conv1d:k=3,n=4"])
    # 9*15*2 = 270 = 27*10; conv1d k=3 on 27: 25 outputs, 4*(3*10 + 1) = 124 parameters
    assert [r.output_shape for r in ans.rows] == [(9, 15, 2), (27, 10), (25, 4)]
    assert ans.rows[2].params == 124
    assert ans.rows[0].params == 0 and ans.rows[1].params == 0
    mods = [nn.Upsample(scale_factor=3, mode="nearest")]
    assert measure(mods, torch.zeros(1, 2, 3, 5))[0] == [(9, 15, 2)]
    assert shape.solve("4x4x1", ["upsample:s=2"]).output == (8, 8, 1)  # s= is the same


def test_reshape_size_mismatch_is_one_line(run_cli):
    code, out, err = run_cli("shape", "--input", "2", "dense:n=392", "reshape:7x7x9")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "392 values" in err and "7×7×9 needs 441" in err


def test_reshape_after_an_open_count_asks_for_n():
    with pytest.raises(ConfigError, match="give the layers before it n="):
        shape.solve("8x8x1", ["conv:k=3", "flatten", "reshape:6x6x2"])


# ---------------------------------------------------------------- a student's answer


@pytest.mark.parametrize(
    "inp, layers, student, slips",
    [
        # conv k=4, p=2 on 50: (50 + 4 - 4)/1 + 1 = 51
        ("50x50x1", ["conv:k=4,p=2,n=8"], "47x47x8", ["forgot the padding"]),  # 50 - 4 + 1
        ("50x50x1", ["conv:k=4,p=2,n=8"], "49x49x8", ["padded one side only"]),  # 50 + 2 - 4 + 1
        ("50x50x1", ["conv:k=4,p=2,n=8"], "50x50x8", ["forgot the +1"]),  # 50 + 4 - 4
        # conv k=4, s=3 on 50: floor(46/3) + 1 = 16, ceil gives 17
        ("50x50x1", ["conv:k=4,s=3,n=8"], "17x17x8", ["used ceil instead of floor"]),
        ("32x32x3", ["conv:k=3,n=8"], "30x30x3", ["counted channels wrong"]),
        # the sheet's conv and pool: 23 is the padding forgotten (47 -> floor(45/2) + 1) or the
        # pool's +1 forgotten (49 -> floor(47/2)); both are named
        ("50x50x1", SHEET[:2], "23x23x8", ["forgot the padding", "forgot the +1"]),
    ],
)
def test_check_names_each_shape_slip(inp, layers, student, slips):
    c = shape.solve(inp, layers).check(student)
    assert c.shape_ok is False and not c.correct
    assert len(c.shape_slips) == len(slips)
    assert all(got.startswith(want) for got, want in zip(c.shape_slips, slips))
    # each sentence with the key a grader records (the slip named, not only described)
    assert [shape.SHAPE_SLIPS[k] for k in c.shape_slip_keys] == [
        s.split(".")[0] for s in c.shape_slips]


@pytest.mark.parametrize(
    "inp, layers, params, slips",
    [
        ("32x32x3", ["conv:k=3,n=8"], 216, ["forgot the bias"]),  # 8*3*3*3 = 216, not 224
        ("32x32x3", ["conv:k=3,n=8"], 80, ["counted channels wrong"]),  # 8*(3*3 + 1)
        ("50x50x1", SHEET, 46216, ["forgot the bias"]),  # 128 + 46080
        # 23*23*8 = 4232 inputs to the dense layer, 10*4233 + 136 = 42466: the padding or the
        # pool's +1 forgotten (see the shape case above)
        ("50x50x1", SHEET, 42466, ["forgot the padding", "forgot the +1"]),
    ],
)
def test_check_names_each_parameter_slip(inp, layers, params, slips):
    ans = shape.solve(inp, layers)
    out = "x".join(str(v) for v in ans.output)
    c = ans.check(f"{out},params={params}")
    assert c.shape_ok is True and c.params_ok is False
    assert len(c.params_slips) == len(slips)
    assert all(got.startswith(want) for got, want in zip(c.params_slips, slips))
    assert len(c.params_slip_keys) == len(slips)
    assert all(s.startswith({**shape.PARAM_SLIPS, **shape.SHAPE_SLIPS}[k])
               for k, s in zip(c.params_slip_keys, c.params_slips))


def test_check_all_correct_and_with_symbols(run_cli):
    code, out, _ = run_cli(
        "shape", "--input", "50x50x1", "conv:k=4,s=1,p=1", "--check", "49x49xn,params=17n",
        "--format", "markdown",
    )
    assert code == 0 and "**All correct.**" in out
    ans = shape.solve("50x50x1", SHEET)
    assert ans.check((24, 24, 8)).correct is False  # the pooled map, not the output
    assert ans.check({"shape": "10", "params": 46226}).correct is True


def test_check_in_json_and_unexplained_answers(run_cli):
    code, out, _ = run_cli(
        "shape", "--input", "50x50x1", *SHEET, "--check", "10,params=99", "--format", "json"
    )
    d = json.loads(out)["check"]
    assert code == 0 and d["shape_ok"] is True and d["params_ok"] is False
    assert d["params_slips"] == [] and d["params_note"].startswith("No single slip")
    c = shape.solve("50x50x1", SHEET).check("49x49")
    assert "You gave 2 size(s); the output has 1" in c.shape_note


@pytest.mark.parametrize(
    "student, fragment",
    [("", "give the output shape"), ("49x49x8,foo=3", "unknown key"), ("49xqx8", "formula in n"),
     ("1x2x3x4", "not a shape"), ("49x49x8,params=1e5", "formula in n")],
)
def test_bad_check_text(student, fragment):
    with pytest.raises(ConfigError, match=fragment):
        shape.solve("50x50x1", SHEET).check(student)


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "inp, layers, fragment",
    [
        ("10000000000x1x1", ["flatten"], "above the limit of 1,000,000,000"),
        ("50x50x1", ["conv:k=100001,n=1"], "above the limit of 10,000"),
        ("50x50x1", ["conv:k=3,n=" + "9" * 5000], "characters long"),
        ("50x50x1", ["conv:k=3,n=" + "9" * 15], "above the limit of 1,000,000,000"),
        ("50x50x1", ["conv:k=3,s=" + "1" * 40], "above the limit"),
        ("50x50x1", ["conv:k=\u00b2"], "must be an integer"),  # a Unicode digit int() rejects
        ("-5x5x1", ["flatten"], "input shape"),
        ("5x0x1", ["flatten"], "must be >= 1"),
        ("50x50x1", ["conv:k=3,n=0"], "must be >= 1"),
        ("50x50x1", ["upsample:f=10000"] * 3, "above the limit"),  # 50 -> 500000 -> 5e9
        ("50x50x1", ["relu"] * 1001, "number of layers is 1,001"),
        ("50x50x1", ["conv:" + "k=3," * 100], "characters long"),
    ],
)
def test_limits_refused_up_front(inp, layers, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        shape.solve(inp, layers)
    assert "\n" not in str(info.value)

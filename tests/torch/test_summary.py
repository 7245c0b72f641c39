"""The model summary: output shapes and parameter counts with their formulas, by hand."""

import pytest
import torch
from torch import nn

from stridelab.torch.summary import summarize


def _small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),  # (32, 26, 26)
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (32, 13, 13)
        nn.Flatten(),  # (5408,)
        nn.Linear(32 * 13 * 13, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def test_shapes_counts_and_formulas_of_a_small_cnn():
    s = summarize(_small_cnn(), (1, 28, 28))
    rows = [(r.kind, r.output_shape, r.n_params, r.formula) for r in s.layers]
    assert rows == [
        ("Conv2d", (32, 26, 26), 320, "32·(3·3·1 + 1) = 320"),  # 32 filters of 3·3·1 + bias
        ("BatchNorm2d", (32, 26, 26), 64, "2·32 = 64"),  # γ and β per channel
        ("ReLU", (32, 26, 26), 0, "0"),
        ("MaxPool2d", (32, 13, 13), 0, "0"),
        ("Flatten", (5408,), 0, "0"),
        ("Linear", (128,), 692_352, "128·(5408 + 1) = 692352"),
        ("ReLU", (128,), 0, "0"),
        ("Linear", (10,), 1290, "10·(128 + 1) = 1290"),
    ]
    assert [r.name for r in s.layers] == [str(i) for i in range(8)]
    assert s.total_params == s.trainable_params == 320 + 64 + 692_352 + 1290
    assert s.input_shape == (1, 28, 28)


def test_formulas_without_bias_with_groups_and_rectangular_kernels():
    model = nn.Sequential(nn.Conv2d(3, 8, (5, 3), bias=False),  # 8·(5·3·3) = 360
                          nn.Conv2d(8, 16, 3, groups=4, padding=1),  # 16·(3·3·2 + 1) = 304
                          nn.Flatten(),
                          nn.Linear(16 * 6 * 8, 10, bias=False))  # 10·768 = 7680
    s = summarize(model, (3, 10, 10))
    assert [r.formula for r in s.layers] == ["8·(5·3·3) = 360", "16·(3·3·2 + 1) = 304", "0",
                                             "10·768 = 7680"]
    assert [r.output_shape for r in s.layers] == [(8, 6, 8), (16, 6, 8), (768,), (10,)]
    assert s.total_params == 360 + 304 + 7680


def test_frozen_parameters_count_in_total_but_not_trainable_and_mode_is_restored():
    model = _small_cnn()
    model[0].weight.requires_grad_(False)  # 288 weights frozen, its 32 biases still train
    model.train()
    s = summarize(model, (1, 28, 28))
    assert s.total_params - s.trainable_params == 288
    assert model.training  # summarize runs in eval mode and switches back
    assert model[1].running_mean.abs().sum() == 0  # no statistics were updated


def test_markdown_and_text_tables():
    s = summarize(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), (2, 2))
    md = s.to_markdown()
    assert "| 1 | Linear | (3,) | 15 | 3·(4 + 1) = 15 |" in md
    assert "**15**" in md
    text = str(s)
    assert "3·(4 + 1) = 15" in text and "trainable 15" in text
    assert s.as_dict()["layers"][1] == {"name": "1", "type": "Linear", "output_shape": [3],
                                        "params": 15, "formula": "3·(4 + 1) = 15"}


def test_a_layer_called_twice_is_listed_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 5)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    s = summarize(Twice(), (5,))
    assert len(s.layers) == 1 and s.total_params == 30


def test_bad_input_shape_is_refused():
    with pytest.raises(ValueError, match="without the batch axis"):
        summarize(_small_cnn(), (0, 28, 28))

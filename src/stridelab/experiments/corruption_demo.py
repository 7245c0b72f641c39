"""corruption-demo: a two-dimensional data set before and after a corruption C(x̃ | x).

Yale 663, 6.3: points on the parabola x₂ = x₁², the same points after the corruption
C(x̃ | x) = N(x̃; x, σ² I), and the map back from x̃ to x that a denoising autoencoder is
trained on; the measured noise and how far the corrupted points lie from the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stridelab.experiments.narrate import Lesson, Notes, num
from stridelab.experiments.registry import bounded, register


@dataclass
class CorruptionConfig:
    n_points: int = bounded(300, ge=1)  # samples of the clean data set
    noise_std: float = bounded(0.1, ge=0)  # standard deviation σ of the corruption, data units
    x_low: float = -1.0  # smallest x of the clean samples
    x_high: float = bounded(1.0, gt="x_low")  # largest x of the clean samples
    # corrupted points drawn with an arrow back to their clean point
    n_arrows: int = bounded(60, ge=1)


CORRUPTION_FORMULA = r"$C(\tilde{x}\mid x)=\mathcal{N}(\tilde{x};\,x,\,\sigma^{2}I)$"


def parabola_samples(n_points: int, x_low: float, x_high: float,
                     random_state: np.random.RandomState) -> np.ndarray:
    """(n_points, 2) points (x, x²) with x uniform on [x_low, x_high]."""
    x = random_state.uniform(x_low, x_high, size=n_points)
    return np.column_stack([x, x ** 2])


def distance_to_parabola(P: np.ndarray, x_low: float, x_high: float,
                         n_grid: int = 4001) -> np.ndarray:
    """Euclidean distance of each point (N, 2) to the curve y = x² (approximated on a grid)."""
    margin = 0.5 * (x_high - x_low)
    t = np.linspace(x_low - margin, x_high + margin, n_grid)
    curve = np.column_stack([t, t ** 2])  # (G, 2)
    d2 = ((P[:, None, :] - curve[None, :, :]) ** 2).sum(-1)  # (N, G)
    return np.sqrt(d2.min(axis=1))


def measure(config: CorruptionConfig, ctx) -> dict:
    """corruption-demo: samples of the parabola before and after C(x̃ | x)."""
    import matplotlib.pyplot as plt

    rs = np.random.RandomState(ctx.seed)
    X = parabola_samples(config.n_points, config.x_low, config.x_high, rs)  # (N, 2)
    X_tilde = X + config.noise_std * rs.standard_normal(X.shape)  # (N, 2)
    dist_clean = distance_to_parabola(X, config.x_low, config.x_high)
    dist_noisy = distance_to_parabola(X_tilde, config.x_low, config.x_high)
    measured = float(np.std(X_tilde - X))

    t = np.linspace(config.x_low, config.x_high, 200)
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.2), sharex=True, sharey=True)
    axes[0].scatter(X[:, 0], X[:, 1], s=8, color="tab:blue", label="clean samples x")
    axes[0].set_title("clean data: $x_2 = x_1^2$", fontsize=10)
    axes[1].scatter(X_tilde[:, 0], X_tilde[:, 1], s=8, color="tab:orange",
                    label=r"corrupted samples $\tilde{x}$")
    axes[1].set_title(f"corrupted, σ = {config.noise_std:g}", fontsize=10)
    n_arrows = min(config.n_arrows, config.n_points)
    axes[2].scatter(X_tilde[:n_arrows, 0], X_tilde[:n_arrows, 1], s=10, color="tab:orange",
                    label=r"corrupted $\tilde{x}$")
    axes[2].quiver(X_tilde[:n_arrows, 0], X_tilde[:n_arrows, 1],
                   X[:n_arrows, 0] - X_tilde[:n_arrows, 0], X[:n_arrows, 1] - X_tilde[:n_arrows, 1],
                   angles="xy", scale_units="xy", scale=1, width=0.003, color="tab:green",
                   label=r"denoising target $\tilde{x} \to x$")
    axes[2].set_title("what a denoiser learns:\nback to the curve", fontsize=10)
    for ax in axes:
        ax.plot(t, t ** 2, color="gray", lw=1, ls="--", label="$x_2 = x_1^2$")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.grid(alpha=0.3)
    # one legend below the panels: inside, it would cover the points
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"Corruption process {CORRUPTION_FORMULA}, σ = {config.noise_std:g} "
                 f"({config.n_points} points)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    ctx.savefig(fig, "corruption", caption="Samples of y = x² (left), after the corruption "
                f"C(x̃ | x) = N(x̃; x, σ² I) with σ = {config.noise_std:g} (middle), and the "
                "map back from x̃ to x that a denoiser is trained on (right)")
    return {"measured_noise_std": measured,
            "noise_std_relative_error": abs(measured - config.noise_std) / config.noise_std
            if config.noise_std > 0 else 0.0,
            "mean_distance_clean": float(dist_clean.mean()),
            "mean_distance_corrupted": float(dist_noisy.mean()),
            "mean_squared_displacement": float(np.mean(np.sum((X_tilde - X) ** 2, axis=1)))}


def narrate(metrics: dict, config: CorruptionConfig) -> Notes:
    sigma = num(config, "noise_std", "g")
    notes = Notes()
    return notes.add(
        f"**Corruption process.** {num(config, 'n_points')} clean points x = (x₁, x₁²) with x₁ "
        f"uniform on [{num(config, 'x_low', 'g')}, {num(config, 'x_high', 'g')}] are corrupted "
        f"by C(x̃ | x) = N(x̃; x, σ² I), that is x̃ = x + ε with ε ~ N(0, σ² I) and σ = {sigma}. "
        "The measured standard deviation of x̃ − x is "
        f"{num(metrics, 'measured_noise_std', '.4f')} (σ = {sigma}), and the mean squared "
        f"displacement per point {num(metrics, 'mean_squared_displacement', '.4f')}, the sum "
        "of the two coordinates' variances.",
        notes.claim(
            "off_curve", metrics["mean_distance_corrupted"] > metrics["mean_distance_clean"],
            f"The clean points lie on the curve (mean distance "
            f"{num(metrics, 'mean_distance_clean', '.2g')}); the corrupted ones lie on "
            f"average {num(metrics, 'mean_distance_corrupted', '.4f')} off the curve. A "
            "denoising autoencoder is trained to map x̃ back to x, so it has to learn where the "
            "data lie (the curve), not the identity.",
            f"The corrupted points lie no further from the curve on average "
            f"({num(metrics, 'mean_distance_corrupted', '.4f')}) than the clean ones "
            f"({num(metrics, 'mean_distance_clean', '.2g')}): at this σ the corruption "
            "hardly moves them."))


register("corruption-demo", CorruptionConfig,
         description="Samples of y = x² before and after the Gaussian corruption "
                     "C(x̃|x) = N(x̃; x, σ²I)",
         quick={}, smoke={"n_points": 100}, needs=None, key_metric="measured_noise_std",
         order=75, narrate=narrate,
         lessons=(
             Lesson("The corruption adds noise of the stated σ: relative error of the measured "
                    "standard deviation", "noise_std_relative_error", "<=", quick=0.1,
                    full=0.1, label="|measured σ − σ| / σ"),
         ))(measure)

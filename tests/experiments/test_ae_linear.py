"""ae-linear and ae-conv: their notes, from fabricated metrics, against PCA both ways."""

import pytest

from stridelab.experiments import ae_conv, ae_linear, autoencoding


@pytest.mark.parametrize("narrate, config", [
    (ae_linear.narrate, autoencoding.AEConfig()), (ae_conv.narrate, autoencoding.ConvAEConfig(knn_k=7))])
def test_single_model_notes_take_the_branch_the_numbers_decide(narrate, config,
                                                                single_model_metrics):
    above = str(narrate(single_model_metrics(0.045, 0.056, 0.61, 0.42), config))
    below = str(narrate(single_model_metrics(0.058, 0.056, 0.37, 0.42), config))
    assert autoencoding.BEATS_PCA in above and autoencoding.NOT_PCA not in above
    assert autoencoding.NOT_PCA in below and autoencoding.BEATS_PCA not in below
    for notes in (above, below):
        assert f"{config.knn_k}-NN" in notes  # k from the config, whatever it is
        assert "digit 1 right" in notes and "digit 4 read as 9" in notes
    assert "**0.61**" in above and "**0.37**" in below  # the measured accuracy, in bold


def test_narration_refuses_a_missing_metric(single_model_metrics):
    metrics = single_model_metrics(0.045, 0.056, 0.61, 0.42)
    del metrics["pca2_knn_accuracy"]
    with pytest.raises(KeyError):  # NarrationError is a KeyError: never a guess
        ae_linear.narrate(metrics, autoencoding.AEConfig())

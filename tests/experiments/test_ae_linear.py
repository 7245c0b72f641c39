"""ae-linear and ae-conv: their notes, from fabricated metrics, against PCA both ways."""

import pytest

from stridelab.experiments import ae_conv, ae_linear, autoencoding


@pytest.mark.parametrize("narrate, config", [
    (ae_linear.narrate, autoencoding.AEConfig()), (ae_conv.narrate, autoencoding.ConvAEConfig(knn_k=7))])
def test_single_model_notes_take_the_branch_the_numbers_decide(narrate, config,
                                                                single_model_metrics):
    above = narrate(single_model_metrics(0.045, 0.056, 0.61, 0.42), config)
    below = narrate(single_model_metrics(0.058, 0.056, 0.37, 0.42), config)
    mixed = narrate(single_model_metrics(0.058, 0.056, 0.61, 0.42), config)
    assert {k: above.branches[k] for k in ("reconstructs", "separates_digits")} == \
        {"reconstructs": True, "separates_digits": True}
    assert {k: below.branches[k] for k in ("reconstructs", "separates_digits")} == \
        {"reconstructs": False, "separates_digits": False}
    assert {k: mixed.branches[k] for k in ("reconstructs", "separates_digits")} == \
        {"reconstructs": False, "separates_digits": True}
    above, below = str(above), str(below)
    for notes in (above, below):
        assert f"{config.knn_k}-NN" in notes  # k from the config, whatever it is
        assert "digit 1 right" in notes and "digit 4 read as 9" in notes
    assert "**0.61**" in above and "**0.37**" in below  # the measured accuracy, in bold


def test_the_claims_against_pca_are_the_lessons_conditions(single_model_metrics):
    """On a tie the lesson is not met, and the notes say so too."""
    tie = single_model_metrics(0.056, 0.056, 0.42, 0.42)
    notes = ae_linear.narrate(tie, autoencoding.AEConfig())
    separates, reconstructs = ae_linear.LESSONS
    assert notes.branches["separates_digits"] is separates.holds(tie) is False
    assert notes.branches["reconstructs"] is reconstructs.holds(tie) is False


def test_narration_refuses_a_missing_metric(single_model_metrics):
    metrics = single_model_metrics(0.045, 0.056, 0.61, 0.42)
    del metrics["pca2_knn_accuracy"]
    with pytest.raises(KeyError):  # NarrationError is a KeyError: never a guess
        ae_linear.narrate(metrics, autoencoding.AEConfig())

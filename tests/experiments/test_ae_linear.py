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


@pytest.mark.parametrize("overlap, arms, misread", [(True, False, True), (False, True, False)])
def test_notes_say_what_the_code_and_the_reconstructions_show(overlap, arms, misread,
                                                             single_model_metrics, fake_seen):
    metrics = single_model_metrics(0.045, 0.056, 0.61, 0.42,
                                   **fake_seen(overlap=overlap, arms=arms, misread=misread))
    for narrate in (ae_linear.narrate, ae_conv.narrate):
        notes = narrate(metrics, autoencoding.ConvAEConfig())
        assert notes.branches["closest_overlap"] is overlap
        assert notes.branches["radial_arms"] is arms
        assert notes.branches["misread"] is misread
        text = str(notes)
        assert "digits 3 and 5 overlap most" in text and "Digit 1 stands most apart" in text
        assert "confuses 4 and 9 most: 55 of their test images" in text
        assert "err most on 2 (test MSE 0.0660) and least on 1 (0.0198)" in text
        assert ("the reconstructions of 6 look most like 8 (32% of them; 88% of the original "
                "6s look like themselves)" in text) is misread
        assert ("at least 70% and 70%" in text) is not arms  # the thresholds, when missed

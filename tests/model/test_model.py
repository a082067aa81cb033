"""The acoustic model: shapes, padding invariance, CTC loss, .keras round trip, cuDNN eligibility."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import REPO, assert_layer_round_trip

from asr.config import FeatureConfig, ModelConfig, load_config
from asr.core.errors import ConfigError
from asr.model.ctc import CTCModel, build_model, ctc_loss
from asr.text import Tokenizer

N_MELS = 12
FEATURES = FeatureConfig(n_mels=N_MELS)
TOKENIZER = Tokenizer()

CONFIGS = {
    "two-convs": ModelConfig(conv_channels=[8, 8], conv_kernel=5, time_reduction=4, lstm_units=8, lstm_layers=2,
                             dropout=0.1),
    "three-convs-k3": ModelConfig(conv_channels=[6, 6, 6], conv_kernel=3, time_reduction=2, lstm_units=6,
                                  lstm_layers=1, dropout=0.0),
    "no-convs": ModelConfig(conv_channels=[], time_reduction=1, lstm_units=8, lstm_layers=2, dropout=0.1),
    "layer-norm": ModelConfig(conv_channels=[8, 8], conv_kernel=5, time_reduction=4, lstm_units=8, lstm_layers=2,
                              dropout=0.1, layer_norm=True),
}


@pytest.fixture(scope="module")
def models():
    """The configs' models with every weight perturbed: fresh models have zero
    biases, which would let a zero input keep an LSTM state at zero and hide
    padding leaks that a trained model would show."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    built = {}
    for name, cfg in CONFIGS.items():
        model = build_model(cfg, FEATURES, TOKENIZER)
        model.set_weights([w + rng.normal(0.0, 0.2, w.shape).astype(w.dtype) for w in model.get_weights()])
        built[name] = model
    return built


def expected_length(length: int, cfg: ModelConfig) -> int:
    for _ in range(cfg.time_reduction.bit_length() - 1):  # each stride-2 conv
        length = (length - 1) // 2 + 1
    return length


def forward(model, features, lengths):
    out = model({"features": np.asarray(features, np.float32), "feature_lengths": np.asarray(lengths, np.int32)},
                training=False)
    return np.asarray(out["logits"]), np.asarray(out["lengths"])


def iter_lstms(model):
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.LSTM):
            found.append(layer)
    return found


@pytest.mark.parametrize("name", list(CONFIGS))
def test_output_shapes_and_lengths(models, name):
    cfg, model = CONFIGS[name], models[name]
    rng = np.random.default_rng(1)
    lengths = [57, 1, 30, 64, 2, 33]
    x = rng.standard_normal((len(lengths), max(lengths), N_MELS)).astype(np.float32)
    logits, out_lengths = forward(model, x, lengths)
    assert logits.shape == (len(lengths), expected_length(max(lengths), cfg), TOKENIZER.vocab_size)
    assert out_lengths.tolist() == [expected_length(n, cfg) for n in lengths]
    assert np.isfinite(logits).all()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_model_knows_its_time_reduction(models, name, tmp_path):
    """The model's own time reduction is the config's, and survives a save and load."""
    model = models[name]
    assert model.time_reduction == CONFIGS[name].time_reduction
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras", safe_mode=True).time_reduction == CONFIGS[name].time_reduction
    frames = 64
    _, lengths = forward(model, np.zeros((1, frames, N_MELS)), [frames])
    assert lengths[0] == -(-frames // model.time_reduction)


def test_from_config_leaves_the_config_alone(models):
    config = models["two-convs"].get_config()
    before = repr(config)
    CTCModel.from_config(config)
    assert repr(config) == before


def test_time_reduction_sets_the_first_strides():
    assert CONFIGS["two-convs"].conv_strides == [2, 2]
    assert CONFIGS["three-convs-k3"].conv_strides == [2, 1, 1]
    assert CONFIGS["no-convs"].conv_strides == []
    assert ModelConfig(conv_channels=[4, 4, 4], time_reduction=8).conv_strides == [2, 2, 2]


@pytest.mark.parametrize("channels, reduction", [([8, 8], 3), ([8, 8], 8), ([8], 0), ([], 2)])
def test_time_reduction_must_be_reachable(channels, reduction):
    with pytest.raises(ConfigError, match="model.time_reduction"):
        ModelConfig(conv_channels=channels, time_reduction=reduction)


def test_model_carries_tokenizer_and_features(models):
    model = models["two-convs"]
    assert isinstance(model, CTCModel)
    assert model.characters == TOKENIZER.characters
    assert model.tokenizer == TOKENIZER
    assert model.features == FEATURES
    assert model.feature_config == dataclasses.asdict(FEATURES)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_padding_does_not_change_real_frames_or_loss(models, name):
    """An utterance alone vs. in a padded batch whose padding is random garbage:
    same logits on its real frames and same CTC loss, forwards and backwards."""
    model = models[name]
    rng = np.random.default_rng(7)
    n = 37
    utt = rng.standard_normal((n, N_MELS)).astype(np.float32)
    labels = np.array([[3, 4, 4, 5]], np.int32)

    alone, alone_len = forward(model, utt[None], [n])

    total = 61
    batch = rng.standard_normal((3, total, N_MELS)).astype(np.float32) * 3.0  # garbage everywhere...
    batch[1, :n] = utt  # ...except our utterance's real frames
    lengths = [total, n, 45]
    padded, padded_len = forward(model, batch, lengths)

    m = int(alone_len[0])
    assert int(padded_len[1]) == m
    assert padded.shape[1] > m  # the padded version really has extra frames
    np.testing.assert_allclose(padded[1, :m], alone[0, :m], atol=1e-5)

    batch_labels = np.array([[1, 2, 3, 4], [3, 4, 4, 5], [6, 7, 0, 0]], np.int32)
    loss_alone = np.asarray(ctc_loss(labels, [4], alone, alone_len))
    loss_padded = np.asarray(ctc_loss(batch_labels, [4, 4, 2], padded, padded_len))
    assert np.isfinite(loss_alone).all()
    np.testing.assert_allclose(loss_padded[1], loss_alone[0], rtol=1e-5, atol=1e-4)


def test_padding_invariance_with_zero_padding_and_batch_neighbours(models):
    """Same utterance padded to different lengths (zeros this time) alongside other utterances."""
    model = models["two-convs"]
    rng = np.random.default_rng(3)
    utt = rng.standard_normal((21, N_MELS)).astype(np.float32)
    results = []
    for total in (21, 22, 40, 100):
        x = np.zeros((2, total, N_MELS), np.float32)
        x[0, :21] = utt
        x[1] = rng.standard_normal((total, N_MELS))
        logits, lengths = forward(model, x, [21, total])
        results.append(logits[0, : lengths[0]])
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], atol=1e-5)


def test_ctc_loss_finite_and_positive_on_random_logits():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 20, TOKENIZER.vocab_size)).astype(np.float32)
    labels = np.array([[5, 6, 7, 8, 9], [1, 1, 2, 0, 0], [3, 0, 0, 0, 0]], np.int32)
    loss = np.asarray(ctc_loss(labels, [5, 3, 1], logits, [20, 12, 4]))
    assert loss.shape == (3,)
    assert np.isfinite(loss).all()
    assert (loss > 0).all()


def test_ctc_loss_matches_hand_computed_probability():
    """T=2 frames, V=2 (blank, 'a'), label 'a': the paths are aa, a_, _a."""
    logits = np.array([[[0.3, 1.2], [-0.5, 0.4]]], np.float32)  # [B=1, T=2, V=2]
    p = np.exp(logits[0]) / np.exp(logits[0]).sum(axis=-1, keepdims=True)
    blank, a = 0, 1
    prob = p[0, a] * p[1, a] + p[0, a] * p[1, blank] + p[0, blank] * p[1, a]
    loss = np.asarray(ctc_loss(np.array([[1]], np.int32), [1], logits, [2]))
    np.testing.assert_allclose(loss[0], -np.log(prob), rtol=1e-5)
    # with one frame only the path 'a' remains
    loss1 = np.asarray(ctc_loss(np.array([[1]], np.int32), [1], logits, [1]))
    np.testing.assert_allclose(loss1[0], -np.log(p[0, a]), rtol=1e-5)


def test_ctc_loss_matches_tensorflow_reference():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((4, 15, 7)).astype(np.float32)
    labels = rng.integers(1, 7, size=(4, 5)).astype(np.int32)
    label_lengths = np.array([5, 3, 2, 4], np.int32)
    for i, n in enumerate(label_lengths):
        labels[i, n:] = 0
    logit_lengths = np.array([15, 11, 9, 14], np.int32)
    ours = np.asarray(ctc_loss(labels, label_lengths, logits, logit_lengths))
    reference = tf.nn.ctc_loss(labels, logits, label_lengths, logit_lengths, logits_time_major=False,
                               blank_index=0).numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-4)


def test_tensorflow_fast_path_matches_keras_ops_ctc_loss_and_its_gradient():
    """``ctc_loss`` on TensorFlow takes the fused kernel (``tf_ctc_loss``); ``keras.ops.ctc_loss``
    is what every other backend runs. Same losses and same gradients, padding garbage included."""
    from keras import ops

    from asr.model.ctc import tf_ctc_loss

    rng = np.random.default_rng(8)
    logits = tf.constant(rng.standard_normal((4, 30, 9)).astype(np.float32) * 2)
    labels = rng.integers(1, 9, size=(4, 7)).astype(np.int32)  # garbage (not 0) past each length
    label_lengths = np.array([7, 3, 1, 5], np.int32)
    logit_lengths = np.array([30, 12, 4, 25], np.int32)

    def loss_and_gradient(fn):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = fn(labels, label_lengths, logits, logit_lengths)
            total = tf.reduce_sum(loss)
        return loss.numpy(), tape.gradient(total, logits).numpy()

    masked = labels * (np.arange(7)[None] < label_lengths[:, None])
    ours, our_grad = loss_and_gradient(tf_ctc_loss)
    reference, ref_grad = loss_and_gradient(lambda y, n, x, m: ops.ctc_loss(masked, x, n, m, mask_index=0))
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, reference, rtol=1e-4)
    np.testing.assert_allclose(our_grad, ref_grad, atol=1e-4)
    for b, m in enumerate(logit_lengths):
        assert not our_grad[b, m:].any()  # padded frames get no gradient


def test_compute_loss_is_the_mean_ctc_loss(models):
    model = models["two-convs"]
    rng = np.random.default_rng(11)
    lengths = np.array([40, 33, 28], np.int32)
    x = {"features": rng.standard_normal((3, 40, N_MELS)).astype(np.float32), "feature_lengths": lengths}
    y = {"labels": np.array([[1, 2, 3], [4, 4, 0], [5, 0, 0]], np.int32),
         "label_lengths": np.array([3, 2, 1], np.int32)}
    y_pred = model(x, training=False)
    loss = float(model.compute_loss(x=x, y=y, y_pred=y_pred, training=False))
    reference = tf.nn.ctc_loss(y["labels"], y_pred["logits"], y["label_lengths"], y_pred["lengths"],
                               logits_time_major=False, blank_index=0).numpy()
    assert np.isfinite(loss) and loss > 0
    np.testing.assert_allclose(loss, reference.mean(), rtol=1e-4)


def test_model_with_a_repeat_token_has_one_more_output_and_keeps_it(tmp_path):
    tok = Tokenizer(repeat_token=True)
    model = build_model(CONFIGS["no-convs"], FEATURES, tok)
    out = model({"features": np.zeros((1, 8, N_MELS), np.float32), "feature_lengths": np.array([8], np.int32)})
    assert out["logits"].shape[-1] == TOKENIZER.vocab_size + 1 == tok.vocab_size
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    assert loaded.tokenizer == tok and loaded.repeat_token


@pytest.mark.parametrize("name", ["two-convs", "no-convs"])
def test_keras_save_load_round_trip(models, name, tmp_path):
    """The shared round trip (config, and a .keras file loaded with safe_mode: same
    logits and lengths), then what a CTCModel carries (model/test_layers.py runs the
    same round trip over every registered layer)."""
    model = models[name]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 30, N_MELS)).astype(np.float32)
    loaded = assert_layer_round_trip(model, {"features": x, "feature_lengths": np.array([30, 17], np.int32)}, tmp_path)
    assert isinstance(loaded, CTCModel)
    assert loaded.characters == model.characters
    assert loaded.feature_config == model.feature_config
    assert loaded.features == FEATURES
    assert len(iter_lstms(loaded)) == len(iter_lstms(model))


def test_save_model_for_inference_round_trip(models, tmp_path):
    from asr.training.trainer import save_model

    model = models["three-convs-k3"]
    path = save_model(model, tmp_path / "clean.keras")
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, CTCModel)
    assert loaded.characters == model.characters and loaded.feature_config == model.feature_config
    x = np.random.default_rng(4).standard_normal((1, 25, N_MELS)).astype(np.float32)
    np.testing.assert_allclose(forward(loaded, x, [25])[0], forward(model, x, [25])[0], atol=1e-6)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_different_alphabet_changes_the_head(tmp_path):
    model = build_model(CONFIGS["no-convs"], FEATURES, Tokenizer("abc "))
    logits, _ = forward(model, np.zeros((1, 5, N_MELS)), [5])
    assert logits.shape[-1] == 5
    path = tmp_path / "m.keras"
    model.save(path)
    assert keras.saving.load_model(path, safe_mode=True).characters == "abc "


def assert_cudnn_eligible(model, cfg: ModelConfig, precision: str = "float32"):
    lstms = iter_lstms(model)
    assert len(lstms) == 2 * cfg.lstm_layers  # forward and backward per layer
    assert sum(layer.go_backwards for layer in lstms) == cfg.lstm_layers
    for layer in lstms:
        assert layer.use_cudnn in ("auto", True)
        assert layer.activation is keras.activations.tanh
        assert layer.recurrent_activation is keras.activations.sigmoid
        assert layer.recurrent_dropout == 0
        assert layer.unroll is False
        assert layer.use_bias is True
        assert layer.dtype_policy.name == precision  # cuDNN has float16 and bfloat16 LSTM kernels too


@pytest.mark.parametrize("name", list(CONFIGS))
def test_lstms_are_cudnn_eligible(models, name):
    assert_cudnn_eligible(models[name], CONFIGS[name])


@pytest.mark.parametrize("precision, compute", [("float32", "float32"), ("mixed_float16", "float16"),
                                                ("mixed_bfloat16", "bfloat16")])
def test_lstms_take_the_cudnn_kernel_in_every_precision(precision, compute, monkeypatch):
    """As on a GPU (Keras asks ``_is_gpu_available``), the traced forward pass runs every
    LSTM as one CudnnRNNV3 op in the compute dtype: mixed precision keeps cuDNN."""
    import importlib

    from tensorflow.python.framework import kernels

    cfg = CONFIGS["two-convs"]
    model = build_model(cfg, FEATURES, TOKENIZER, precision)
    assert_cudnn_eligible(model, cfg, precision)
    # the package re-exports a function named rnn, which hides the module from a plain import
    monkeypatch.setattr(importlib.import_module("keras.src.backend.tensorflow.rnn"), "_is_gpu_available", lambda: True)
    forward = tf.function(lambda x: model(x, training=False), autograph=False)
    graph = forward.get_concrete_function({"features": tf.TensorSpec((None, None, N_MELS)),
                                           "feature_lengths": tf.TensorSpec((None,), tf.int32)}).graph.as_graph_def()
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    cudnn = [tf.dtypes.as_dtype(node.attr["T"].type).name for node in nodes if node.op.startswith("CudnnRNN")]
    assert cudnn == [compute] * (2 * cfg.lstm_layers)
    # and TensorFlow has that GPU kernel
    gpu_types = {tf.dtypes.as_dtype(t).name for k in kernels.get_registered_kernels_for_op("CudnnRNNV3").kernel
                 if k.device_type == "GPU" for c in k.constraint for t in c.allowed_values.list.type}
    assert compute in gpu_types


@pytest.mark.parametrize("recipe", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_shipped_recipe_is_cudnn_eligible(recipe):
    cfg = load_config(REPO / "configs" / recipe)
    assert_cudnn_eligible(build_model(cfg.model, cfg.features, TOKENIZER), cfg.model)

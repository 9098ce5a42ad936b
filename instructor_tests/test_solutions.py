"""The course's 25 reference experiments (solutions/exp_*): each is a valid submission faithful to its published config.

No training happens here. Epochs and parameter counts are checked against solutions/published.json (the course's
figures); batch size, optimizer, loss, schedule and augmentation against the tables below, which transcribe the
config lines in published.json plus the choices recorded in solutions/README.md ("Settings the course left unstated").

Experiments 23-25 need ImageNet ResNet18 weights, which cannot be downloaded here. Only the network fetch
(torch.hub.download_url_to_file) is replaced: it writes the state_dict of a randomly initialised resnet18 into an
empty, temporary hub cache, so torchvision's real loading path (cache lookup, torch.load, load_state_dict) still runs.
"""
import ast
import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from locked import engine, submission, weights
from locked.info import OFFICIAL_COUNTS

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
PUBLISHED = json.loads((SOLUTIONS / "published.json").read_text())
EXPERIMENTS = {e["num"]: e for e in PUBLISHED["experiments"]}
NUMS = sorted(EXPERIMENTS)
RESNETS = (23, 24, 25)
TRAIN_COUNTS = OFFICIAL_COUNTS["train"]

# --- The course's configs, transcribed (anything not listed is the default in the line below it) -------------------
BATCH_SIZE = {17: 64, 18: 128, 21: 64, 22: 64, 25: 64}  # else 32
OPTIMIZER = {1: ("SGD", 0.1, 0), 3: ("SGD", 0.01, 0), 4: ("Adam", 1e-4, None), 5: ("SGD", 0.01, 0.9),
             23: ("Adam", 1e-4, None), 24: ("Adam", 1e-4, None), 25: ("Adam", 1e-4, None)}  # else Adam(lr=1e-3)
CLASS_WEIGHTED = {15, 21, 22, 25}
LABEL_SMOOTHING = {16: 0.1, 22: 0.1, 25: 0.1}  # else 0.0
COSINE_T_MAX = {20: 15, 21: 15, 22: 15, 23: 10, 24: 10, 25: 15}  # else no scheduler
_HFLIP, _ROT, _CJ = ["RandomHorizontalFlip"], ["RandomRotation"], ["ColorJitter"]
_HEAVY = ["RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation"]
# Augmentations before ToTensor (exp 14 then adds Normalize); experiments not listed use ToTensor only.
TRANSFORMS = {11: _HFLIP, 12: _HFLIP + _ROT, 13: _HFLIP + _ROT + _CJ, 14: _HFLIP + _ROT + _CJ,
              21: _HEAVY + _CJ, 22: _HEAVY + _CJ, 25: _HEAVY + ["RandomAffine"] + _CJ}
ROTATION_DEGREES = {12: 15, 13: 15, 14: 15, 21: 20, 22: 20, 25: 20}


def folder(num):
    return SOLUTIONS / EXPERIMENTS[num]["id"]


def load(num):
    return submission.load(folder(num))


@pytest.fixture(scope="module")
def fake_imagenet_download(tmp_path_factory):
    """Offline stand-in for the ImageNet download: an empty hub cache whose only 'download' writes a random resnet18.

    Returns (state_dict written, list of URLs requested). Module-scoped: the file is written once, later builds read
    it from the cache exactly as they would read real cached weights.
    """
    with torch.random.fork_rng():  # leave the session's global RNG alone
        torch.manual_seed(1234)
        fake = torchvision.models.resnet18().state_dict()
    requested = []

    def download(url, dst, hash_prefix=None, progress=True):
        requested.append(url)
        torch.save(fake, dst)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.hub, "_hub_dir", str(tmp_path_factory.mktemp("torch_hub")))
        mp.setattr(torch.hub, "download_url_to_file", download)
        yield fake, requested


@pytest.fixture(scope="module")
def built(fake_imagenet_download):
    """built(num) -> (submission, model), built and shape-checked by the locked engine; once per experiment."""
    cache = {}

    def get(num):
        if num not in cache:
            sub = load(num)
            cache[num] = sub, engine.build_model(sub)
        return cache[num]

    return get


def test_published_json_covers_the_25_folders():
    assert NUMS == list(range(1, 26))
    assert set(PUBLISHED) >= {"source", "hardware", "split_evaluated", "class_order", "targets", "experiments"}
    folders = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and p.name.startswith("exp_"))
    assert folders == [EXPERIMENTS[n]["id"] for n in NUMS]
    for num in NUMS:
        files = sorted(p.name for p in folder(num).iterdir() if p.name != "__pycache__")
        assert files == ["model.py", "train_config.py"], f"exp {num}: {files}"
        for name in files:  # self-contained: a submission is just these two files
            text = (folder(num) / name).read_text()
            assert text.startswith('"""Experiment '), f"exp {num} {name}: missing its docstring"
            imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(text))
                        if isinstance(node, ast.Import) for alias in node.names}
            imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(text))
                         if isinstance(node, ast.ImportFrom)}
            assert imported <= {"torch", "torchvision"}, f"exp {num} {name} imports {imported}"


@pytest.mark.parametrize("num", NUMS)
def test_loads_with_published_epochs_and_batch_size(num):
    sub = load(num)
    assert sub.epochs == EXPERIMENTS[num]["epochs"]
    assert sub.batch_size == BATCH_SIZE.get(num, 32)


@pytest.mark.parametrize("num", NUMS)
def test_model_matches_published_params_and_shape(num, built):
    _, model = built(num)  # engine.build_model already checked (2, 3, 28, 28) -> (2, 7) and finite outputs
    assert type(model).__name__ == EXPERIMENTS[num]["model_name"]
    assert sum(p.numel() for p in model.parameters()) == EXPERIMENTS[num]["params"]
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 28, 28)).shape == (2, 7)


@pytest.mark.parametrize("num", NUMS)
def test_training_objects_match_config(num, built):
    sub, model = built(num)
    optimizer, criterion, scheduler = engine.make_training_objects(sub, model, TRAIN_COUNTS)

    kind, lr, momentum = OPTIMIZER.get(num, ("Adam", 1e-3, None))
    assert type(optimizer).__name__ == kind
    assert optimizer.defaults["lr"] == lr
    if momentum is not None:
        assert optimizer.defaults["momentum"] == momentum

    assert isinstance(criterion, torch.nn.CrossEntropyLoss)
    assert criterion.label_smoothing == LABEL_SMOOTHING.get(num, 0.0)
    if num in CLASS_WEIGHTED:
        counts = torch.tensor(TRAIN_COUNTS, dtype=torch.float32)
        assert torch.allclose(criterion.weight, counts.sum() / (7 * counts))
        assert criterion.weight.argmax() == 3 and criterion.weight.argmin() == 5  # df weighted most, nv least
    else:
        assert criterion.weight is None
    loss = criterion(torch.randn(4, 7), torch.tensor([0, 4, 5, 6]))
    assert loss.ndim == 0 and torch.isfinite(loss)

    if num in COSINE_T_MAX:
        assert isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
        assert scheduler.T_max == COSINE_T_MAX[num]
    else:
        assert scheduler is None


@pytest.mark.parametrize("num", NUMS)
def test_train_transform_matches_config(num):
    tf = load(num).train_transform
    steps = tf.transforms if isinstance(tf, transforms.Compose) else [tf]
    names = [type(t).__name__ for t in steps]
    expected = TRANSFORMS.get(num, []) + ["ToTensor"] + (["Normalize"] if num == 14 else [])
    assert names == expected
    for t in steps:
        if isinstance(t, transforms.RandomRotation):
            assert t.degrees == [-ROTATION_DEGREES[num], ROTATION_DEGREES[num]]
        if isinstance(t, transforms.ColorJitter):
            jitter = (t.brightness, t.contrast, t.saturation, t.hue)
            assert jitter == ((0.8, 1.2), (0.8, 1.2), (0.8, 1.2), (-0.05, 0.05))  # exp 13's 0.2, 0.2, 0.2, 0.05

    x = tf(Image.new("RGB", (28, 28), (20, 20, 20)))  # dark grey: ImageNet Normalize makes every pixel negative
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (3, 28, 28)
    if num == 14:  # the trap: training inputs leave [0, 1] while validation inputs (locked ToTensor) do not
        assert x.max() < 0
    else:
        assert 0.0 <= x.min() and x.max() <= 1.0


def test_only_exp14_normalizes_its_training_images():
    steps = {n: getattr(load(n).train_transform, "transforms", []) for n in NUMS}
    normalizing = {n for n in NUMS if any(isinstance(t, transforms.Normalize) for t in steps[n])}
    assert normalizing == {14}


def test_exp24_trains_only_the_fc(built):
    _, model = built(24)
    trainable = {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}
    assert sum(trainable.values()) == 512 * 7 + 7 == 3591
    assert all(name.endswith(("fc.weight", "fc.bias")) for name in trainable)


@pytest.mark.parametrize("num", RESNETS)
def test_resnets_load_the_imagenet_weights(num, built, fake_imagenet_download):
    """The backbone holds the 'downloaded' weights (not a fresh random init); replaced layers do not."""
    _, model = built(num)
    fake, requested = fake_imagenet_download
    assert requested == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url]  # fetched once, then cached
    state = model.state_dict()
    prefix = next(k[: -len("layer4.1.conv2.weight")] for k in state if k.endswith("layer4.1.conv2.weight"))
    for key in ("layer1.0.conv1.weight", "layer4.1.conv2.weight", "bn1.running_mean"):
        assert torch.equal(state[prefix + key], fake[key]), key
    assert not any(torch.equal(state[k], fake["fc.weight"]) for k in state if k.endswith("fc.weight"))


def test_exp25_adapts_the_stem_to_28x28(built):
    _, model = built(25)
    conv1 = next(m for n, m in model.named_modules() if n.endswith("conv1") and "layer" not in n)
    assert (conv1.kernel_size, conv1.stride, conv1.padding, conv1.bias) == ((3, 3), (1, 1), (1, 1), None)
    assert any(isinstance(m, torch.nn.Identity) for n, m in model.named_modules() if n.endswith("maxpool"))
    heads = [m for n, m in model.named_modules() if n.endswith("fc")]
    assert [type(m).__name__ for m in heads[0]] == ["Dropout", "Linear"] and heads[0][0].p == 0.3


def test_missing_weights_raise_weights_unavailable(tmp_path, monkeypatch):
    """Offline and uncached, exp 23 must fail loudly, never fall back to training ResNet18 from random weights."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "empty_hub"))

    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    sub = load(23)
    with pytest.raises(weights.WeightsUnavailable, match="python -m locked.weights"):
        engine.build_model(sub)

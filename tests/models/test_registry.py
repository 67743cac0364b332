import pytest
import torch

from edgeseg.errors import CheckpointError
from edgeseg.models import MODELS, build_model
from edgeseg.models.icnet import ICNet
from edgeseg.models.netwarp import NetWarp


def small_inputs(name, model):
    L = 5
    if name == "icnet":
        return (torch.randn(1, 3, 64, 96),)
    if name == "refiner":
        return torch.randn(1, 3, 64, 96), torch.randn(1, 16, 8, 12), torch.softmax(torch.randn(1, L, 16, 24), 1)
    if name == "stgru":
        return torch.randn(1, L, 16, 24), torch.randn(1, L, 16, 24), torch.randn(1, 3, 16, 24), \
            torch.randn(1, 3, 16, 24), torch.randn(1, 2, 16, 24)
    if name == "netwarp":
        return torch.randn(1, 16, 8, 12), torch.randn(1, 16, 8, 12), torch.randn(1, 3, 8, 12), \
            torch.randn(1, 3, 8, 12), torch.randn(1, 2, 8, 12)
    if name == "gcrf":
        return torch.randn(3, L, 16, 24), torch.randn(3, 3, 16, 24)
    raise AssertionError(f"no test inputs for registered model {name}")


CONFIGS = {"icnet": {"width": 0.25}, "refiner": {"width": 0.25, "feat_channels": 16},
           "netwarp": {"feat_channels": 16}, "stgru": {}, "gcrf": {}}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_runs_forward(name):
    model = build_model(name, num_classes=5, **CONFIGS[name]).eval()
    with torch.no_grad():
        out = model(*small_inputs(name, model))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape[1] == 5 and torch.isfinite(logits).all()
    if name == "icnet":
        assert logits.shape[-2:] == (16, 24)  # 1/4 of the input
        assert out[1].shape[-2:] == (8, 12)  # features at 1/8


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(CheckpointError, match="unknown architecture 'nope'"):
        build_model("nope")


def test_netwarp_at_initialisation_equals_backbone():
    torch.manual_seed(0)
    backbone = ICNet(num_classes=5, width=0.25).eval()
    head = NetWarp(num_classes=5, feat_channels=backbone.feat_channels).eval()
    head.classifier.load_state_dict(backbone.classifier.state_dict())
    img, img_prev = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        logits, feats = backbone(img)
        _, feats_prev = backbone(img_prev)
        small = torch.nn.functional.interpolate(img, size=feats.shape[-2:])
        out = head(feats, feats_prev, small, small.flip(-1), 3.0 * torch.randn(1, 2, *feats.shape[-2:]))
    assert torch.allclose(out, logits, atol=1e-6)


def test_the_registry_lists_backbones_and_heads_with_default_configs():
    from edgeseg.models import list_models
    from edgeseg.runtime.fusion import head_names
    assert list_models("backbone") == {"icnet": {"num_classes": 11, "width": 1.0}}
    assert set(list_models("head")) == set(head_names())  # every head's model is registered next to its spec
    assert set(list_models()) == {"icnet", *head_names()}


def test_icnet_keeps_the_backbone_contract():
    from edgeseg.models import Backbone
    model = build_model("icnet", num_classes=5, width=0.25).eval()
    assert isinstance(model, Backbone)
    logits, feats = model(torch.randn(1, 3, 64, 96))
    assert logits.shape == (1, 5, 64 // model.logits_stride, 96 // model.logits_stride)
    assert feats.shape == (1, model.feat_channels, 64 // model.feat_stride, 96 // model.feat_stride)
    assert model.classifier(feats).shape[1] == 5  # feats -> class scores (NetWarp starts from it)

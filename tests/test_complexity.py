import torch
from torch import nn

from ghostbench.models import complexity


def _tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),  # 8x4x4 out, 3*8*9=216 params
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x2x2
        nn.Conv2d(8, 4, 1),  # 4x2x2, 36 params
        nn.Flatten(),
        nn.Linear(16, 10),  # 170 params
    ).eval()


def test_counts_by_hand_on_a_tiny_net():
    c = complexity.count(_tiny(), input_size=8)
    assert c.params == 216 + 16 + 36 + 170
    # MACs: conv1 8*16 outputs * 27, conv2 4*4 outputs * 8, linear 16*10
    assert c.macs == 8 * 16 * 27 + 16 * 8 + 160
    # Radosavovic et al.: conv outputs only; pycls adds max-pool and linear outputs.
    assert c.activations == 8 * 16 + 4 * 4
    assert c.activations_pycls == 8 * 16 + 4 * 4 + 8 * 4 + 10


def test_meta_count_equals_real_count():
    from ghostbench.models import registry

    spec = registry.get("ghostnet_050")
    assert complexity.count_model("ghostnet_050") == complexity.count(spec.build(), spec.input_size)


def test_per_layer_sums_to_the_total():
    model = _tiny()
    rows = complexity.per_layer(model, input_size=8)
    total = complexity.count(model, input_size=8)
    assert [r.kind for r in rows][:2] == ["Conv2d", "BatchNorm2d"]
    assert sum(r.params for r in rows) == total.params
    assert sum(r.macs for r in rows) == total.macs
    assert sum(r.activations for r in rows) == total.activations
    assert rows[0].output_shape == (1, 8, 4, 4)


def test_hooks_are_removed():
    model = _tiny()
    complexity.count(model, 8)
    complexity.per_layer(model, 8)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert torch.is_grad_enabled()

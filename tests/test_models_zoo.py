"""Every registered model: builds, runs batch 1 to (1, 1000), and matches its published complexity.

Tolerances (issue 3): params within 1% and MACs within 3% of the published figure, where one is
published. The paper figures are rounded (e.g. "5.2M", "141M"), so 1% of a 2-digit figure is the
bar we hold, and the source is named in every assertion message.
"""

import pytest
import torch

from ghostbench.models import complexity, registry

ALL = registry.names()
CLASSIFIERS = [n for n in ALL if registry.get(n).task == "classification"]

# Published rows whose complexity does not describe our definition, with the reason.
COMPLEXITY_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("mobilenetv2_100", "1.0 (mobilenet_v2_1.0_224, TF-slim checkpoint)"): (
        "TF-slim's 3.47M is 1.004% below the torchvision layout we build; the torchvision row "
        "(3,504,872) in the same file is matched exactly"
    ),
    ("ghost_resnet50", "s=2, d=3"): (
        "Table 6's 13.0M fits only with the classifier also Ghost-ified (12.94M); the official "
        "ghost_resnet.py keeps it linear, as we do: 13,953,512 (+7.3%), MACs within 3% (see resnet.py)"
    ),
    ("yolov8n_c2f_ghostv2", "YOLOv8_C2f_GhostBottleneckV2s (seed table)"): (
        "the row counts GhostNetV2's bottleneck without DFC attention (numerically GhostNet's; "
        "reproduced exactly in tests/test_models_yolo.py); we register it with DFC attention: "
        "+31,248 params (+1.16%), MACs -0.14% (docs/detection.md)"
    ),
    ("mobilenetv2_100", "1.0 (MobileNetV2 paper value)"): (
        "the paper's 3.4M predates the released layouts; TF-slim (3.47M) and torchvision (3,504,872, "
        "matched exactly) are what we build"
    ),
    ("mobilenetv3_small_100", "Small 1.0 float (TF-slim checkpoint)"): (
        "TF-slim's MobileNetV3-Small (2.9M) counts a different head; the torchvision row "
        "(2,542,856) in the same file is matched exactly"
    ),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_builds_and_classifies_one_image(name):
    spec = registry.get(name)
    model = spec.build()
    with torch.no_grad():
        out = model(torch.randn(1, 3, spec.input_size, spec.input_size))
    assert out.shape == (1, spec.num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ALL)
def test_complexity_matches_published_rows(name):
    spec = registry.get(name)
    counts = complexity.count_model(name)
    assert counts.params == sum(p.numel() for p in spec.build().parameters())
    assert 0 < counts.activations < counts.activations_pycls
    for row in spec.published:
        if (name, row.variant) in COMPLEXITY_EXCEPTIONS:
            continue
        where = f"{name} vs published_accuracy.csv row '{row.variant}' ({row.source})"
        if row.params_m is not None:
            rel = abs(counts.params / 1e6 - row.params_m) / row.params_m
            # A figure with two significant digits ("5.2M") is only known to +/-0.05M.
            slack = 0.05 / row.params_m if row.params_m < 10 and len(str(row.params_m)) <= 3 else 0
            assert rel <= 0.01 + slack, f"params {counts.params:,} off by {rel:.2%}: {where}"
        if row.macs_m is not None:
            rel = abs(counts.macs / 1e6 - row.macs_m) / row.macs_m
            assert rel <= 0.03, f"MACs {counts.macs:,} off by {rel:.2%}: {where}"

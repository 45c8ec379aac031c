import pytest
import torch

from ghostbench.models import registry
from ghostbench.models.registry import ModelSpec, UnknownModelError


def test_names_are_sorted_naturally_and_cover_every_family():
    names = registry.names()
    assert names == registry.select("*")
    assert {"c-ghost", "g-ghost", "regnet", "mobilenet", "shufflenet"} <= set(registry.families())
    assert names.index("regnetx_004") < names.index("regnetx_016") < names.index("regnetx_120")


def test_select_wildcards_exclude_and_family():
    assert registry.select("ghostnet_*", exclude=["*_050"]) == ["ghostnet_100", "ghostnet_130"]
    assert registry.select("*", family="c-ghost") == ["ghostnet_050", "ghostnet_100", "ghostnet_130"]


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownModelError, match=r"did you mean: .*ghostnet_100"):
        registry.get("ghostnet_10")
    with pytest.raises(UnknownModelError):
        registry.select(["ghostnet_100", "not_a_model"])


def test_unknown_family_lists_valid_ones():
    with pytest.raises(ValueError, match=r"valid families: .*c-ghost"):
        registry.select("*", family="nope")


def test_duplicate_and_bad_names_raise():
    spec = registry.get("ghostnet_100")
    with pytest.raises(ValueError, match="duplicate"):
        registry.register(spec)
    with pytest.raises(ValueError, match="snake_case"):
        registry.register(ModelSpec(name="Bad-Name", family="x", builder=spec.builder))


def test_build_is_deterministic_per_seed():
    spec = registry.get("ghostnet_050")
    a, b, c = spec.build(seed=0), spec.build(seed=0), spec.build(seed=1)
    assert not a.training
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_every_published_row_belongs_to_a_registered_model_and_has_a_source():
    metrics = registry.published_metrics()
    assert set(metrics) <= set(registry.names())
    for name, rows in metrics.items():
        for row in rows:
            assert row.source and row.source_kind in {"paper", "repo", "docs", "seed"}, name
    assert registry.get("ghostnet_100").reference.top1 == 73.9

import optuna
import pytest

from search_space import Layout, SearchSpace, SpaceError, attention_count, evenly_spaced, parse_ratio


def test_ratio_helpers():
    assert parse_ratio("3:1") == (3, 1)
    assert parse_ratio("pure") == (1, 0)
    assert attention_count(12, "3:1") == 3
    assert attention_count(12, "pure") == 0
    assert attention_count(24, "24:1") == 1
    assert evenly_spaced(12, 3) == (3, 7, 11)
    assert evenly_spaced(28, 2) == (13, 27)
    with pytest.raises(SpaceError):
        parse_ratio("3-1")


def test_periodic_grid_is_valid_and_unique():
    space = SearchSpace(n_layers=12, mixers=("gdn", "gla"), ratios=("pure", "7:1", "3:1", "1:1"))
    grid = list(space.grid())
    assert len(grid) == len(set(grid)) == space.grid_size() == 8
    assert Layout.parse("(gdn*3,attn)*3") in grid
    for layout in grid:
        space.check(layout)


def test_free_space_repairs_counts():
    space = SearchSpace(n_layers=8, placement="free", mixers=("gdn",), min_attention=1, max_attention=2)
    assert space.repair_attention([0, 1, 2, 3]) == (0, 1)
    assert len(space.repair_attention([])) == 1
    assert space.grid_size() == 8 + 28
    for layout in space.grid():
        assert 1 <= layout.n_attention <= 2


def test_fixed_and_mixed():
    space = SearchSpace(n_layers=6, placement="fixed", attention_layers=(2, 5), mixers=("gdn", "gla"), mix_linear=True)
    grid = list(space.grid())
    assert len(grid) == 2**4
    assert all(g.attention_indices == (2, 5) for g in grid)
    with pytest.raises(SpaceError, match="places attention"):
        space.check(Layout.parse("gdn*3,attn,gdn,attn"))


@pytest.mark.parametrize("placement", ["free", "periodic", "fixed"])
@pytest.mark.parametrize("mix", [False, True])
def test_optuna_suggestions_stay_inside(placement, mix):
    space = SearchSpace(n_layers=8, placement=placement, mixers=("gdn", "gla", "hgrn"), mix_linear=mix,
                        attention_layers=(3, 7) if placement == "fixed" else (), max_attention=3,
                        ratios=("pure", "3:1", "1:1"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        trial = study.ask()
        layout = space.suggest(trial)
        space.check(layout)
        study.tell(trial, 0.0)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(n_layers=0), "n_layers"),
    (dict(mixers=("foo",)), "unknown linear mixer 'foo'; valid: gdn"),
    (dict(mixers=("attn",)), "placed by the placement"),
    (dict(mixers=()), "no linear mixers"),
    (dict(placement="zigzag"), "unknown placement"),
    (dict(placement="periodic", ratios=("1:1",), max_attention=2, n_layers=12), "no ratio"),
    (dict(placement="fixed", attention_layers=(12,)), "outside"),
    (dict(placement="free", min_attention=5, max_attention=2), "max_attention"),
    (dict(placement="free", min_attention=1, min_ratio=20.0, n_layers=12), "satisfies"),
    (dict(ratios=("3-1",)), "bad ratio"),
])
def test_impossible_spaces_are_explained(kwargs, needle):
    with pytest.raises(SpaceError) as e:
        SearchSpace(**kwargs)
    assert needle in str(e.value)


def test_grid_limit():
    space = SearchSpace(n_layers=24, placement="free", mixers=("gdn", "gla"), mix_linear=True)
    with pytest.raises(SpaceError, match="more than a grid"):
        next(space.grid())


def test_dict_round_trip():
    space = SearchSpace(n_layers=10, mixers=("gla",), placement="free", max_attention=3)
    assert SearchSpace.from_dict(space.to_dict()) == space
    with pytest.raises(SpaceError, match="unknown search-space fields"):
        SearchSpace.from_dict({"layers": 3})


@pytest.mark.parametrize("kwargs", [
    dict(n_layers=6, placement="free", mixers=("gdn", "gla"), mix_linear=True, max_attention=2),
    dict(n_layers=6, placement="free", mixers=("gdn",), include_pure_attention=True),
    dict(n_layers=6, placement="periodic", mixers=("gdn", "gla"), ratios=("pure", "2:1", "0:1")),
    dict(n_layers=6, placement="periodic", mixers=("gdn",), ratios=("1:1",), include_pure_attention=True),
    dict(n_layers=5, placement="fixed", attention_layers=(0, 4), mixers=("gdn", "gla", "hgrn"), mix_linear=True),
])
def test_grid_size_counts_the_grid(kwargs):
    space = SearchSpace(**kwargs)
    grid = list(space.grid())
    assert len(grid) == len(set(grid)) == space.grid_size()

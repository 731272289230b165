import itertools

import numpy as np
import optuna
import pytest
from ray import tune
from ray.tune.search.sample import Categorical

from search_space import Layout, SearchSpace, SpaceError
from search_space.tune_space import (build_layout, choices, grid_size, layout_from_params, param_space, params_of,
                                     rejection)

SPACES = [
    SearchSpace(n_layers=12, mixers=("gdn", "gla"), ratios=("pure", "7:1", "3:1", "1:1")),
    SearchSpace(n_layers=6, placement="free", mixers=("gdn", "gla"), min_attention=1, max_attention=2),
    SearchSpace(n_layers=6, placement="fixed", attention_layers=(2, 5), mixers=("gdn", "gla", "hgrn2"), mix_linear=True),
    SearchSpace(n_layers=4, mixers=("gla",), ratios=("pure", "1:1"), include_pure_attention=True),
]


def _all_configs(space):
    names = list(choices(space))
    for values in itertools.product(*choices(space).values()):
        yield dict(zip(names, values))


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.placement)
def test_every_layout_of_the_space_has_a_configuration_and_back(space):
    for layout in space.grid():
        assert layout_from_params(space, params_of(space, layout)) == layout


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.placement)
def test_the_native_grid_covers_the_space_and_rejects_only_what_breaks_it(space):
    accepted, rejected = set(), []
    for config in _all_configs(space):
        reason = rejection(space, config)
        if reason is None:
            accepted.add(layout_from_params(space, config))
        else:
            rejected.append((build_layout(space, config), reason))
    assert accepted == set(space.grid())
    for layout, reason in rejected:
        assert not space.contains(layout) and str(layout) in reason
    assert grid_size(space) == sum(1 for _ in _all_configs(space))


def test_free_placement_rejects_counts_outside_the_bounds_with_the_reason():
    space = SPACES[1]
    config = {f"attn_{i}": i < 3 for i in range(6)} | {"mixer": "gdn"}
    with pytest.raises(SpaceError, match=r"3 attention layers: breaks 1 <= attention layers <= 2"):
        layout_from_params(space, config)
    config = {f"attn_{i}": False for i in range(6)} | {"mixer": "gla"}
    assert "0 attention layers" in rejection(space, config)


def test_parameter_names_are_those_of_optuna_define_by_run():
    for space in SPACES:
        study = optuna.create_study()
        for _ in range(10):
            trial = study.ask()
            layout = space.suggest(trial)
            assert set(trial.params) <= set(choices(space)), (space, trial.params)
            if space.placement != "free":  # free placement repairs in Optuna, so the flags may differ
                assert layout_from_params(space, trial.params) == layout
            study.tell(trial, 0.0)


def test_param_space_is_tune_domains_and_any_sample_is_a_layout_or_a_reason():
    space = SPACES[1]
    ps = param_space(space)
    assert all(isinstance(d, Categorical) for d in ps.values())
    rng = np.random.default_rng(0)
    for _ in range(50):
        config = {k: d.sample(random_state=rng) for k, d in ps.items()}
        reason = rejection(space, config)
        assert reason is None or reason.startswith("layout ")
    grid = param_space(space, grid=True)
    assert grid["mixer"] == tune.grid_search(["gdn", "gla"])


def test_bad_configurations_say_what_is_wrong():
    space = SPACES[0]
    with pytest.raises(SpaceError, match="no parameter 'ratio'"):
        layout_from_params(space, {"mixer": "gdn"})
    with pytest.raises(SpaceError, match="not among the space's mixers"):
        layout_from_params(space, {"ratio": "3:1", "mixer": "mamba2"})
    with pytest.raises(SpaceError, match="not among the space's ratios"):
        layout_from_params(space, {"ratio": "2:1", "mixer": "gdn"})
    with pytest.raises(SpaceError, match="True or False"):
        layout_from_params(SPACES[1], {f"attn_{i}": "yes" for i in range(6)} | {"mixer": "gdn"})
    config = {f"attn_{i}": np.bool_(i == 5) for i in range(6)} | {"mixer": "gdn"}  # numpy's bool is fine
    assert layout_from_params(SPACES[1], config) == Layout.parse("gdn*5,attn")

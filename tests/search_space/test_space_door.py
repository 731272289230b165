"""Search spaces checked before anything starts (issue 16), and the parameters that propose a given layout."""

import optuna
import pytest

from search_space import SearchSpace, SpaceError
from search_space.layout import MAX_LAYERS


def test_the_layer_cap_is_the_layout_parsers():
    SearchSpace(n_layers=MAX_LAYERS, placement="periodic", ratios=("pure",))
    with pytest.raises(SpaceError, match=str(MAX_LAYERS)):
        SearchSpace(n_layers=MAX_LAYERS + 1)
    with pytest.raises(SpaceError, match="integer"):
        SearchSpace(n_layers=2.5)


def test_fixed_placement_without_positions_is_an_error():
    with pytest.raises(SpaceError, match="attention layer indices"):
        SearchSpace(n_layers=4, placement="fixed")


def test_ratio_notes_say_what_runs():
    assert SearchSpace(n_layers=4, ratios=("7:1",)).ratio_notes() == ["7:1 runs as 3:1 (1 attention layer of 4)"]
    assert SearchSpace(n_layers=12, ratios=("pure", "11:1", "3:1", "1:1")).ratio_notes() == []
    assert SearchSpace(n_layers=4, placement="free").ratio_notes() == []


@pytest.mark.parametrize("kwargs", [
    dict(n_layers=4),
    dict(n_layers=5, placement="free", mixers=("gdn", "gla"), max_attention=2, include_pure_attention=True),
    dict(n_layers=4, placement="free", mixers=("gdn", "gla"), mix_linear=True),
    dict(n_layers=6, placement="fixed", attention_layers=(2, 5), mixers=("gdn", "gla", "hgrn"), mix_linear=True),
    dict(n_layers=6, ratios=("pure", "2:1", "0:1"), include_pure_attention=True),
])
def test_params_of_proposes_the_layout(kwargs):
    space = SearchSpace(**kwargs)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for layout in space.grid():
        study.enqueue_trial(space.params_of(layout))
        trial = study.ask()
        assert space.suggest(trial) == layout
        study.tell(trial, 0.0)

import random

import pytest

from search_space import ALL_MIXERS, Layout, LayoutError


@pytest.mark.parametrize("text,canonical,n", [
    ("(gdn*3,attn)*3", "(gdn*3,attn)*3", 12),
    ("gdn gdn gdn attn gdn gdn gdn attn", "(gdn*3,attn)*2", 8),
    ("gla*8", "gla*8", 8),
    ("gdn,attn,gdn*2", "gdn,attn,gdn*2", 4),
    ("((gla,attn)*2,gdn)*2", "(gla,attn,gla,attn,gdn)*2", 10),
    (" GDN * 2 , attn ", "gdn*2,attn", 3),
    ("attn", "attn", 1),
])
def test_parse_and_canonical(text, canonical, n):
    layout = Layout.parse(text)
    assert layout.canonical() == canonical
    assert layout.n_layers == n
    assert Layout.parse(canonical) == layout


def test_random_layouts_round_trip_to_one_key():
    rng = random.Random(0)
    for _ in range(300):
        layers = tuple(rng.choice(ALL_MIXERS[:3]) for _ in range(rng.randint(1, 24)))
        layout = Layout(layers)
        again = Layout.parse(layout.canonical())
        assert again.layers == layers
        assert again.key() == layout.key() and again.canonical() == layout.canonical()
        spaced = Layout.parse(" ".join(layers))
        assert spaced.canonical() == layout.canonical()


def test_attention_views():
    layout = Layout.parse("(gdn*3,attn)*3")
    assert layout.attention_indices == (3, 7, 11)
    assert layout.n_attention == 3
    assert layout.linear_mixers == ("gdn",)


@pytest.mark.parametrize("bad,needle", [
    ("foo", "unknown mixer 'foo'; valid mixers: attn"),
    ("gdn*", "repeat count"),
    ("(gdn", "unclosed"),
    ("gdn,,attn", "empty item"),
    ("gdn*0", "at least 1"),
    ("", "empty layout"),
    ("gdn,", "trailing"),
    ("gdn;attn", "unexpected character"),
    ("()*2", "empty group"),
    ("gdn*100000", "more than"),
])
def test_bad_layouts_say_what_is_wrong(bad, needle):
    with pytest.raises(LayoutError, match=None) as e:
        Layout.parse(bad)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)

import pytest
from typer.testing import CliRunner

from nas.cli import app

TINY = ["--set", "mqar_steps=4", "--set", "lm_steps=4", "--set", "lm_eval_tokens=512",
        "--set", "mqar_train_examples=256", "--set", "mqar_test_examples=64", "--set", "flops_context=64"]


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'x.db'}"

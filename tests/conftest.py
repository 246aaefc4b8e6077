"""Fixtures shared by several test folders."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """One intra-op torch thread, as in a data-loader worker: small ops are slower with more on a busy box."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--recipe-size", choices=("test", "full"), default="test",
        help="size of the mini recipes in the recipe tests: 'test' (make test) runs every stage with "
             "the test-size options of each recipe test; 'full' (make test-recipes) runs the recipes as "
             "make demo does, with the reference floors, and skips the tests that have no full size")


@pytest.fixture(scope="session")
def recipe_size(request: pytest.FixtureRequest) -> str:
    """The --recipe-size of this run: a recipe test that reads it has a test size and a full size."""
    return request.config.getoption("--recipe-size")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --recipe-size full, only the tests that have a full size run (the rest ran in make test)."""
    if config.getoption("--recipe-size") != "full":
        return
    skip = pytest.mark.skip(reason="no full size: it runs in make test")
    for item in items:
        if "recipe_size" not in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


class ErrorLine:
    """The one ``ERROR: ...`` line that ``voxrecipes.cli.run`` prints on stderr for bad input.

    - ``error_line()``: from what ``capsys`` captured so far (the test caught the ``SystemExit`` itself);
    - ``error_line.run(function, *args)``: call a CLI entry point that must exit with status 1;
    - ``error_line.of(text)``: from a subprocess's stderr.

    Each asserts that exactly one such line was printed and returns it.
    """

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    @staticmethod
    def of(stderr: str) -> str:
        lines = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
        assert len(lines) == 1, lines
        return lines[0]

    def __call__(self) -> str:
        return self.of(self.capsys.readouterr().err)

    def run(self, function, *args, **kwargs) -> str:
        with pytest.raises(SystemExit) as info:
            function(*args, **kwargs)
        assert info.value.code == 1
        return self()


@pytest.fixture
def error_line(capsys: pytest.CaptureFixture[str]) -> ErrorLine:
    """See :class:`ErrorLine`: the single ``ERROR:`` line of a failing CLI."""
    return ErrorLine(capsys)

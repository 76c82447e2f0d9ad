"""`zen-mlmd` through click's runner, in a private config directory."""
import pytest
from click.testing import CliRunner

from zen_mlmd.cli.main import cli


@pytest.fixture
def run(config_home):
    """Invoke the CLI; assert its exit code (0 unless `expect=`) and that no traceback shows."""
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0, **kwargs):
        result = runner.invoke(cli, list(args), **kwargs)
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result

    return invoke

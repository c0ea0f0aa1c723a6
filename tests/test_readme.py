"""The README's promises: its Python example runs, its commands exist."""

import re
from pathlib import Path

import ganlab.cli

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    section = text.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    run = namespace["run"]
    assert run.step == 400
    assert namespace["x"].shape == (2500, 2)
    assert (tmp_path / "runs" / "api-example" / "index.html").exists()


def test_readme_opens_with_install_demo_and_test_commands():
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1).splitlines()
    assert block[0].startswith('pip install -e ".[dev]"')
    assert block[1].startswith("ganlab demo")
    assert block[2].startswith("python -m pytest -q")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci
    commands = set(ganlab.cli.COMMANDS)
    for line in re.findall(r"^ganlab (\w+)", README.read_text(), re.M):
        assert line in commands

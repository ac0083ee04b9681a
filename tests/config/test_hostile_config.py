"""Hostile configuration files: problems with exit code 2, never a traceback, a memory blow-up or a hang.

A configuration file is written by an operator, but it may be generated, templated or copied from
somewhere: ``config check`` and every command must answer a bad one with problems and exit code 2,
never a traceback, an exhausted memory or a hang.

* An alias bomb (each level nine aliases of the one before) is a few hundred bytes of YAML that the
  loader's walk expanded to 43 million strings: MemoryError under a 1.5 GB cap, and without a cap
  minutes of CPU and gigabytes of memory (one level more is 387 million). The walk now stops at
  100,000 values with a problem naming the aliases.
* Nesting a few thousand levels deep made PyYAML's recursive parser raise RecursionError, which
  escaped as a traceback with exit code 1; it is now a problem of the file.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

MEMORY_CAP = 1536 * 1024 * 1024

ALIAS_BOMB = """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
tenants:
  - name: acme
    client_id: cid
    client_secret: csec-hostile-config-0001
    streams: *h
"""


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def config_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mimecast_siem", "config", "check", "--config", str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_cap_memory,
    )


def assert_config_problem(done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-1500:]
    assert done.returncode == 2, output[-1500:]


def test_a_yaml_alias_bomb_is_a_configuration_problem(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    done = config_check(path)
    assert_config_problem(done)
    assert "expands to more than 100000 values" in done.stderr


def test_yaml_nested_thousands_of_levels_deep_is_a_configuration_problem(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("tenants: " + "[" * 5000 + "]" * 5000 + "\n")
    done = config_check(path)
    assert_config_problem(done)
    assert "nested too deeply" in done.stderr


def test_control_characters_and_python_tags_are_problems_not_crashes(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(
        'tenants:\n  - name: "\\x00\\ud800"\n    client_id: !!python/object/apply:os.system ["id"]\n'
        "    client_secret: csec-hostile-config-0002\n"
    )
    done = config_check(path)
    assert_config_problem(done)
    assert "tenants[0].name" in done.stderr
    assert "tenants[0].client_id" in done.stderr

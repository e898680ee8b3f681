"""Public API: __all__ resolves; solvers never imports the domain layer; no global JAX change."""

import subprocess
import sys

import codesign
import solvers



def test_all_names_resolve():
    for module in (codesign, solvers):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], f"{module.__name__}.__all__ lists missing names {missing}"


def test_solvers_does_not_import_codesign_and_imports_change_no_jax_config():
    code = (
        "import sys, jax; before = jax.config.jax_enable_x64; import solvers; "
        "bad = [m for m in sys.modules if m.startswith('codesign')]; assert not bad, bad; "
        "import codesign; assert jax.config.jax_enable_x64 == before; print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"JAX_PLATFORMS": "cpu", "PATH": ""})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr

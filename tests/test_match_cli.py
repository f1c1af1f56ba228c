"""`notifier match` and the other commands score alike."""
import os
import subprocess
import sys

PRODUCT = ("import numpy as np, hashlib; a = np.random.default_rng(0).random((1000, 1024), dtype=np.float32); "
           "print(hashlib.md5((a @ a.T).tobytes()).hexdigest())")


def product_digest(prelude: str, env: dict) -> str:
    return subprocess.run([sys.executable, "-c", prelude + PRODUCT], env=env, capture_output=True, text=True,
                          check=True).stdout


def test_every_command_multiplies_as_notifier_match_does_whatever_the_cpus():
    """On several BLAS threads a matrix product the size of 1,000 papers' similarity sums in another
    order (other scores, other selections): every command loads numpy with one, as `match` did alone.
    (On a machine of one CPU this cannot tell; on two or more it does.)"""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert product_digest("import notifier.cli; ", env) == product_digest("", {**env, "OPENBLAS_NUM_THREADS": "1"})

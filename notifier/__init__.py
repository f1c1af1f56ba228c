"""digest-notifier: personalised daily digests of research papers."""

import os

__version__ = "0.1.0"

# One BLAS thread wherever the package is loaded from (every command, the tests, benchmarks/eval_matcher.py's
# in-process checks), set before numpy loads (it reads this then; nothing here loads numpy before this): on
# several threads the papers' similarity product sums in another order (the judged set's 361 papers:
# another matrix), so `serve`, `run`, the web app and the eval's in-process checks scored a day otherwise
# than `notifier match`; and on a small box more threads gain no wall time while their spinning costs CPU
# (`match` 1,000 x 10,000: -0.2 s CPU, same results).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

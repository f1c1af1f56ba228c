"""`notifier match --profiles` on a big batch: shares of the profiles matched by forked processes.
What a user can tell: the same lines as one process writes, in input order; a process that fails
is one line on stderr and exit 1; Ctrl-C or an error stops every process, none left behind."""
import json
import os
import random
import signal
import time

import pytest

import notifier.forked
import notifier.match
from notifier.cli import main
from notifier.commands import match as command
from notifier.errors import InputError

WORDS = ("kv cache eviction mixture experts routing sparse attention diffusion protein folding speculative decoding "
         "quantization lora adapters retrieval augmented generation vision transformer pruning distillation").split()


def write_batch(tmp_path, n_papers=60, n_profiles=90, seed=7):
    """Papers and profiles (phrases, exclusions, required and weighted terms, ids of several types,
    some with their own votes) drawn from one small vocabulary, so that most profiles match."""
    rng = random.Random(seed)
    papers = [{"id": f"2601.{i:05d}", "title": " ".join(rng.sample(WORDS, 4)),
               "abstract": ". ".join(" ".join(rng.sample(WORDS, 6)) for _ in range(3)) + "."} for i in range(n_papers)]
    profiles = []
    for i in range(n_profiles):
        terms = [rng.choice([f'"{a} {b}"', a, f"{a}^2", f"+{a}", f"title:{a}"]) for a, b in
                 (rng.sample(WORDS, 2) for _ in range(rng.randint(1, 4)))]
        if i % 5 == 0:
            terms.append("-" + rng.choice(WORDS))
        line = {"id": [f"u{i}", i, None][i % 3], "profile": ", ".join(terms)}
        if i % 4 == 0:
            line["feedback"] = [{"id": p["id"], "vote": v} for p, v in zip(rng.sample(papers, 2), (1, -1))] + \
                               [{"id": "2512.00001", "title": "Sparse attention", "abstract": "Sparse attention kernels.",
                                 "vote": 1}]
        profiles.append(line)
    (tmp_path / "papers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in papers))
    (tmp_path / "profiles.jsonl").write_text("".join(json.dumps(p) + "\n" for p in profiles))
    return str(tmp_path / "papers.jsonl"), str(tmp_path / "profiles.jsonl")


@pytest.fixture
def parallel(monkeypatch):
    """Fork from 10 profiles of 60 papers on, into 3 processes (whatever CPUs this machine has), 4
    profiles a chunk (so shares are cut at chunk edges inside the batch)."""
    def set_up(processes=3, per_chunk=4, n_papers=60):
        monkeypatch.setattr(command, "PARALLEL_MIN_CELLS", 10 * n_papers)
        monkeypatch.setattr(notifier.forked, "cpus", lambda: processes)
        monkeypatch.setattr(notifier.match, "CHUNK_CELLS", per_chunk * n_papers)
    return set_up


def run(capsys, *argv):
    code = main(["match", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def forked(monkeypatch):
    """The pids of the processes forked (as the parent sees them)."""
    pids, real_fork = [], os.fork

    def fork():
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid
    monkeypatch.setattr(os, "fork", fork)
    return pids


def reaped(pids):
    """Every one of ``pids`` has ended and been waited for: none left running, no zombie."""
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return True


@pytest.mark.parametrize("options", [[], ["--threshold", "0.3", "--max-items", "2"]], ids=["default", "options"])
@pytest.mark.parametrize("processes", [2, 3])
def test_a_batch_matched_in_parallel_gives_the_lines_of_one_process_in_input_order(
        tmp_path, capsys, monkeypatch, parallel, forked, options, processes):
    papers, profiles = write_batch(tmp_path)
    argv = ["--papers", papers, "--profiles", profiles, "--json", *options]
    monkeypatch.setattr(notifier.match, "CHUNK_CELLS", 4 * 60)
    alone = run(capsys, *argv)
    assert not forked
    parallel(processes)
    together = run(capsys, *argv)
    assert len(forked) == processes - 1 and reaped(forked)
    assert together == alone
    lines = [json.loads(line) for line in alone[1].splitlines()]
    assert [line["profile"] for line in lines] == [[f"u{i}", i, None][i % 3] for i in range(90)]
    assert sum(bool(line["matches"]) for line in lines) > 45


def test_a_batch_with_feedback_for_all_matched_in_parallel_gives_the_lines_of_one_process(
        tmp_path, capsys, parallel):
    papers, profiles = write_batch(tmp_path)
    votes = tmp_path / "votes.jsonl"
    votes.write_text('{"id": "2601.00003", "vote": 1}\n{"id": "2601.00004", "vote": -1}\n')
    argv = ["--papers", papers, "--profiles", profiles, "--json", "--feedback", str(votes)]
    alone = run(capsys, *argv)
    parallel(2, per_chunk=1000)             # (one chunk: shares cut anywhere)
    assert run(capsys, *argv) == alone


def test_a_batch_below_the_threshold_is_matched_in_this_process(tmp_path, capsys, monkeypatch):
    papers, profiles = write_batch(tmp_path, n_profiles=49)
    monkeypatch.setattr(command, "PARALLEL_MIN_CELLS", 50 * 60)     # profiles x papers
    monkeypatch.setattr(notifier.forked, "cpus", lambda: 8)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    code, out, _ = run(capsys, "--papers", papers, "--profiles", profiles, "--json")
    assert code == 0 and len(out.splitlines()) == 49


def test_a_bad_profile_line_is_one_line_before_any_process_starts(tmp_path, capsys, monkeypatch, parallel):
    papers, profiles = write_batch(tmp_path)
    with open(profiles, "a") as fh:
        fh.write('{"id": "late", "profile": 5}\n')
    parallel()
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    code, out, err = run(capsys, "--papers", papers, "--profiles", profiles, "--json")
    assert (code, out) == (1, "") and err.startswith(f"notifier: error: {profiles}: line 91: ")
    assert len(err.splitlines()) == 1


def failing_in_share(monkeypatch, share: int, how):
    """``write_matches`` failing ``how`` in the process of the share starting after profile ``share``."""
    real = command.write_matches

    def write_matches(args, index, ids, profiles, feedback, lo, hi, write):
        if lo == share:
            how()
        real(args, index, ids, profiles, feedback, lo, hi, write)
    monkeypatch.setattr(command, "write_matches", write_matches)


def killed():
    os.kill(os.getpid(), signal.SIGKILL)


def refused():
    raise InputError("the disk said no")


@pytest.mark.parametrize("how,message", [
    (killed, "notifier: error: the process matching profiles 61-90 was killed by SIGKILL: "
             "the output stops after profile 60"),
    (refused, "notifier: error: the disk said no"),
], ids=["killed", "error"])
def test_a_process_that_fails_stops_the_batch_with_one_line_and_exit_1(tmp_path, capsys, monkeypatch, parallel,
                                                                       forked, how, message):
    papers, profiles = write_batch(tmp_path)
    alone = run(capsys, "--papers", papers, "--profiles", profiles, "--json")[1].splitlines()
    parallel(3, per_chunk=3)                    # shares 0-30, 30-60, 60-90
    failing_in_share(monkeypatch, 60, how)
    code, out, err = run(capsys, "--papers", papers, "--profiles", profiles, "--json")
    assert (code, err) == (1, message + "\n")
    assert out.splitlines() == alone[:60]        # the shares before it, whole
    assert len(forked) == 2 and reaped(forked)


def test_an_error_here_stops_and_reaps_the_other_processes(tmp_path, capsys, monkeypatch, parallel, forked):
    papers, profiles = write_batch(tmp_path)
    parallel(3, per_chunk=3)
    failing_in_share(monkeypatch, 30, lambda: time.sleep(60))      # the forked ones would go on for a minute
    failing_in_share(monkeypatch, 0, lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    start = time.monotonic()
    code, out, err = run(capsys, "--papers", papers, "--profiles", profiles, "--json")
    assert (code, out, err) == (130, "", "notifier: interrupted\n")
    assert time.monotonic() - start < 30
    assert len(forked) == 2 and reaped(forked)


@pytest.mark.parametrize("n,k,size", [(100_000, 2, 524), (90, 3, 4), (10, 4, 100), (5, 2, 1), (7, 3, 2)])
def test_shares_cover_the_batch_in_order_cut_at_chunk_edges(n, k, size):
    cuts = notifier.forked.shares(n, k, size)
    assert cuts[0][0] == 0 and cuts[-1][1] == n and all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))
    assert all(lo % size == 0 and hi > lo for lo, hi in cuts) and len(cuts) <= k

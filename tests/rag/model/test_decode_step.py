"""The one-call decoding step: same logits as the module path (within quantization noise), on one thread or
several, alone or among a draft; and the runner's choice of thread pool follows measured step times."""

from __future__ import annotations

import numba
import pytest
import torch

from rag.model.decode_step import DecodeStep

PROMPT = "The quick brown fox jumps over the lazy dog. In 1889 the Eiffel Tower opened in Paris, France."


def steps(model, ids, prefix=12):
    with torch.inference_mode():
        cache = model.new_cache(len(ids))
        model(torch.tensor([ids[:prefix]]), cache)
        return torch.cat([model(torch.tensor([[t]]), cache)[0] for t in ids[prefix:]])


@pytest.fixture(scope="module")
def int4(load):
    model, tok = load("int4")
    assert model.decode_step is not None, "an int4 model runs the one-call step"
    return model, tok


def test_step_agrees_with_the_module_path_and_fp32(int4, load):
    model, tok = int4
    ids = tok.encode(PROMPT)[:24]
    ours = steps(model, ids)
    saved, model.decode_step = model.decode_step, None
    try:
        modules = steps(model, ids)
    finally:
        model.decode_step = saved
    reference = steps(load("fp32")[0], ids)
    # both int4 paths sit as close to fp32 as each other (activations are rounded to int8, so they are not equal)
    assert (ours - reference).abs().mean() < 1.2 * (modules - reference).abs().mean() + 0.02
    assert torch.equal(ours.argmax(-1), modules.argmax(-1))


def test_serial_and_pooled_steps_give_identical_logits(int4):
    model, tok = int4
    ids = tok.encode(PROMPT)[:20]
    step = model.decode_step
    saved = step.threads, step.use_pool, step.probe_every
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        step.threads, step.probe_every = 2, 10**9
        results = []
        for pool in (False, True):
            step.use_pool = pool
            step._times = {False: [1.0] * 3, True: [1.0] * 3}
            step._record = lambda *args: None  # keep the forced choice
            results.append(steps(model, ids))
        assert torch.equal(results[0], results[1])
    finally:
        del step._record
        step.threads, step.use_pool, step.probe_every = saved
        numba.set_num_threads(before)


def test_short_prompts_and_drafts_take_the_step_and_match_one_at_a_time(int4):
    model, tok = int4
    ids = tok.encode(PROMPT)[:20]
    singles = steps(model, ids)
    with torch.inference_mode():
        cache = model.new_cache(len(ids))
        model(torch.tensor([ids[:12]]), cache)
        assert torch.equal(model(torch.tensor([ids[12:]]), cache)[0], singles)


def test_runner_keeps_the_faster_kind_and_probes_the_other(int4):
    step = DecodeStep(int4[0].decode_step.weights, threads=2, probe_every=4)
    step._spare = lambda: 1.0  # the other CPU is idle
    chosen = []
    for pooled_seconds in [0.010] * 12 + [0.050] * 20:  # the pool gets slow: a neighbour took a core
        pool = step._choose()
        chosen.append(pool)
        step._record(pool, pooled_seconds if pool else 0.020)
    assert chosen[:2] == [False, False]  # one thread is measured first
    assert chosen[6:12].count(True) >= 5  # quiet: the pool is faster and used
    assert chosen[13:16] == [False] * 3  # loaded: one thread at once...
    assert chosen[14:].count(True) <= 4  # ...and two-step probes of the pool, further and further apart
    single = DecodeStep(int4[0].decode_step.weights, threads=1)
    assert not any(single._choose() for _ in range(40))


def test_runner_does_not_try_the_pool_while_other_work_holds_the_cpus(int4):
    step = DecodeStep(int4[0].decode_step.weights, threads=2, probe_every=4)
    step._spare = lambda: 0.1  # a neighbour keeps the other CPU busy
    chosen = []
    for _ in range(200):
        pool = step._choose()
        chosen.append(pool)
        step._record(pool, 0.010 if pool else 0.020)  # the pool would even look faster
    assert not any(chosen)
    assert step._interval == step.max_interval or step._interval > 64  # and it looks less and less often

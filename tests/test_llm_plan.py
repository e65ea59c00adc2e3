"""`hwgen llm plan` and `hwgen llm generate`: the plan's invariants (never above the memory roofline, the numbers
it reports add up, bad input exits 2 with one line), and a small random checkpoint end to end: plan -> generate ->
RTL cosim of every layer in sequence -> bit-exact with the golden chain, close to transformers' BitNetForCausalLM,
the same greedy next token."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwgen.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
MODEL_073B = ROOT / "designs" / "models" / "bitnet-0.73b"


def _hwgen(*args):
    return subprocess.run([sys.executable, "-m", "hwgen", *map(str, args)], capture_output=True, text=True,
                          timeout=1800)


def _config(tmp_path: Path, name: str, **change) -> Path:
    cfg = json.loads((MODEL_073B / "config.json").read_text())
    for k, v in change.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture(scope="module")
def plan_073b(tmp_path_factory):
    """0.73B on the KV260 from config.json alone (M_max pinned to keep the test short: 18 candidates)."""
    out = tmp_path_factory.mktemp("plan") / "p"
    r = _hwgen("llm", "plan", "--model", MODEL_073B, "--target", "kv260", "--context", 1024, "--prompt", 64,
               "--pin", "M_max=64", "--out", out)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "plan.json").read_text()), out


def test_plan_writes_table_plot_and_numbers_that_add_up(plan_073b):
    from hwgen.kernels import parse_spec
    from hwgen.llm.config import load_config
    from hwgen.llm.layer import LayerNumerics, layer_program
    from hwgen.llm.perf import bytes_per_cycle, program_cycles
    from hwgen.targets import get_target
    p, out = plan_073b
    assert (out / "plan.md").read_text().startswith("# Plan") and (out / "plan.png").stat().st_size > 10_000
    for key in ("decode_tokens_per_s", "prefill_tokens_per_s", "ttft_s", "roofline_tokens_per_s",
                "weight_bytes_per_token", "clock_mhz"):
        assert p[key] > 0, key
    assert p["resources"]["fits"] and p["clock_mhz"] <= get_target("kv260").default_clock_mhz
    # never above any roofline: the plan's bytes at the board's peak bandwidth
    r = p["rooflines"]
    assert p["decode_tokens_per_s"] <= r["all_bytes"] and p["decode_layers_only_tokens_per_s"] <= r["weights_kv_effective"]
    # recompute the decode token from the kernels' cycle models and the stated host time
    cfg = load_config(MODEL_073B)
    d = p["design"]
    prog = layer_program(cfg, None, LayerNumerics.model_validate(d["numerics"]), M_max=d["M_max"], L_max=d["L_max"],
                         params=d["kernel_params"], mode="decode")
    t = get_target("kv260")
    cyc = program_cycles(prog, 1, bytes_per_cycle(t.mem_bw_gbps, p["clock_mhz"]))
    layer_s = cyc["cycles_sequential"] * cfg.num_hidden_layers / (p["clock_mhz"] * 1e6)
    assert p["decode_tokens_per_s"] == pytest.approx(1 / (layer_s + p["host"]["decode"]["total_s"]), rel=1e-9)
    # the weight bytes are the packed TLMM streams: 5 bits per 3 trits (plus padding to T*G and Q)
    trits = sum(k * n for n, k in cfg.linear_shapes.values()) * cfg.num_hidden_layers
    assert p["bytes_per_token"]["layer_weights"] == pytest.approx(trits * 5 / 3 / 8, rel=0.01)
    # the K/V cache at context L: 2 x layers x kv_dim x L x 2 bytes (int16)
    assert p["bytes_per_token"]["kv_cache"] == 2 * cfg.num_hidden_layers * cfg.kv_dim * 1024 * 2
    # every engine spec is a valid kernel; the TLMM streams its weights
    for e in d["engine"].values():
        for s in e["specs"]:
            parse_spec(s)
    assert d["engine"]["tlmm"]["specs"][0]["weight_memory"] == "stream"
    # the default bf16 LM head, streamed by the host at its stated bandwidth and counted in the all-bytes roofline
    V, H = cfg.vocab_size, cfg.hidden_size
    assert p["lm_head"]["bits"] == 16 and p["bytes_per_token"]["lm_head"] == p["lm_head"]["bytes_per_token"] == 2 * V * H
    host_bw = p["host"]["read_gbps"] * 1e9
    assert p["lm_head"]["seconds_per_token"] == pytest.approx(max(2 * V * H / host_bw,
                                                                  2 * V * H / (p["host"]["gflops"] * 1e9)))
    all_bytes = sum(p["bytes_per_token"].values())
    assert r["all_bytes"] == pytest.approx(t.mem_bw_gbps * 1e9 / all_bytes, rel=1e-9)


def test_lm_head_bits_halve_the_host_bytes():
    """int8 rows + float32 scales against bf16: half the bytes (plus 4 per row), half the host time when the host
    is bandwidth-bound; a tied int8 head is its own copy, so the bf16 embedding table stays in memory."""
    from hwgen.llm.config import load_config, parse_config
    from hwgen.llm.plan import HOSTS, head_bytes, host_seconds
    cfg = load_config(MODEL_073B)
    V, H = cfg.vocab_size, cfg.hidden_size
    b16, b8 = head_bytes(cfg, 16), head_bytes(cfg, 8)
    assert b16["lm_head"] == 2 * V * H and b8["lm_head"] == V * H + 4 * V
    s16, s8 = host_seconds(cfg, HOSTS["kv260"], 16), host_seconds(cfg, HOSTS["kv260"], 8)
    assert s16["lm_head_s"] == pytest.approx(2 * V * H / 5e9) and s8["lm_head_s"] == pytest.approx((V * H + 4 * V) / 5e9)
    tied = parse_config({**json.loads((MODEL_073B / "config.json").read_text()), "tie_word_embeddings": True})
    assert head_bytes(tied, 16)["embedding_table"] == 0 and head_bytes(tied, 8)["embedding_table"] == 2 * V * H


def test_plan_above_the_roofline_is_a_bug(monkeypatch):
    """The assertion in the plan trips when a model claims more than the bytes allow (a host that costs nothing
    and a memory twice as fast as the roofline assumes)."""
    from hwgen.llm import plan as planmod
    from hwgen.llm.config import load_config
    cfg = load_config(MODEL_073B)
    monkeypatch.setattr(planmod, "bytes_per_cycle", lambda bw, clk, eff=0.8: 2 * bw * 1e9 / (clk * 1e6))
    with pytest.raises(AssertionError):
        planmod.make_plan(cfg, "kv260", context=128, prompt=16, pins={"T": 16, "Q": 16, "M_max": 16,
                                                                       "buffer_memory": "uram"})


@pytest.mark.parametrize("change, args, field", [
    ({"model_type": "llama"}, [], "model_type"),
    ({"hidden_size": None}, [], "hidden_size"),
    ({"max_position_embeddings": 1 << 20}, ["--context", 1_000_000], "context"),
    ({}, ["--context", 4096], "context"),                              # above max_position_embeddings
    ({}, ["--pin", "G=5"], "pin"),
    ({}, ["--lm-head-bits", 4], "lm-head-bits"),
])
def test_plan_bad_input_exits_2(tmp_path, change, args, field):
    model = _config(tmp_path, "m", **change)
    args = ["--target", "kv260", *args] if "--target" not in args else args
    r = _hwgen("llm", "plan", "--model", model, *args, "--out", tmp_path / "out")
    assert r.returncode == 2 and field in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "out").exists()


def test_plan_board_too_small_names_the_resource():
    from hwgen.llm.config import parse_config
    from hwgen.llm.plan import make_plan
    cfg = parse_config({**json.loads((MODEL_073B / "config.json").read_text()), "num_hidden_layers": 2,
                        "vocab_size": 1000})
    with pytest.raises(UserError, match=r"pynq-z2 is too small .*dsp needs"):
        make_plan(cfg, "pynq-z2", context=256, prompt=16, pins={"T": 8, "Q": 8, "M_max": 16})


# --- generate and run end to end ------------------------------------------------------------------------------

torch = pytest.importorskip("torch", reason="the reference extra (torch + transformers) is not installed")
pytest.importorskip("transformers", reason="the reference extra (transformers) is not installed")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """A 2-layer hidden-256 checkpoint (GQA 4/2, relu2), planned for the KV260 with the TLMM pinned to T=Q=8 and
    M_max=16 (the search's own choice, T=Q=32, is 16x more RTL and takes minutes in Icarus), with the int8 LM head
    (opt-in: the float head is the plain float32 path), then generated."""
    from hwgen.llm.testing import make_checkpoint
    tmp = tmp_path_factory.mktemp("e2e")
    ck = make_checkpoint(tmp / "ck", layers=2, seed=3)
    r = _hwgen("llm", "plan", "--model", ck, "--target", "kv260", "--context", 64, "--prompt", 8,
               "--pin", "T=8", "--pin", "Q=8", "--pin", "M_max=16", "--lm-head-bits", 8, "--out", tmp / "plan")
    assert r.returncode == 0, r.stderr
    r = _hwgen("llm", "generate", "--model", ck, "--plan", tmp / "plan" / "plan.json", "--out", tmp / "prj")
    assert r.returncode == 0, r.stderr
    return ck, tmp / "prj", tmp


def test_weight_images_reproduce_the_streams(engine):
    """The image bytes, unpacked, are exactly the index words the streaming TLMM's golden / test bench use for the
    checkpoint's ternary weights; the constants are the layer's own, quantized to the engine's formats."""
    from hwgen.kernels import get, parse_spec
    from hwgen.llm.checkpoint import load_layer
    from hwgen.llm.config import load_config
    from hwgen.llm.generate import engine_program, load_engine, read_entry, unpack_beats
    ck, prj, _ = engine
    meta, manifest = load_engine(prj)
    cfg = load_config(ck)
    chain = {s["name"]: s for s in meta["chains"]["prefill"]}
    plan = json.loads((prj / "plan.json").read_text())
    for lay in manifest["layers"]:
        w = load_layer(ck, cfg, lay["layer"])
        streams = [e for e in lay["entries"] if e["kind"] == "tlmm_index_stream"]
        assert len(streams) == 7 and sum(e["size"] for e in streams) == plan["memory"]["weight_layout"]["bytes_per_layer"]
        for e in streams:
            spec = parse_spec(chain[e["step"]]["spec"])
            lin = next(l for n, l in w.linears.items() if n.endswith(e["step"]))
            want = get("tlmm").weight_words(spec, lin.w.T.astype(np.int64))
            np.testing.assert_array_equal(unpack_beats(read_entry(prj, lay["file"], e), e), want)
            assert e["offset"] % 64 == 0 and e["port"] == "s_axis_w"
        prog = engine_program(prj, lay["layer"], "prefill")
        for n, lin in w.linears.items():      # decoded weights = the checkpoint's ternarization
            np.testing.assert_array_equal(prog.consts["w_" + n.split(".")[-1]].T, lin.w)
    # one engine: the same kernel project for every layer, formats stated
    assert meta["engine_formats"] and all((prj / s["project"] / "rtl").is_dir() for s in meta["chains"]["decode"])


def test_engine_cosim_end_to_end_against_golden_and_transformers(engine):
    """Prefill 4 tokens, then decode: RTL cosim of every kernel of both layers in sequence (each fed the previous kernel's and
    layer's simulated output) is bit-exact with the golden chain, every kernel's cycles equal its cycle model; the
    final hidden states are close to transformers' BitNetForCausalLM and the greedy next token matches it. The
    other prompts run through the golden chain (bit-equal to cosim, as the first prompt shows)."""
    from transformers import BitNetForCausalLM
    from hwgen.llm.config import load_config
    from hwgen.llm.generate import embed, greedy_next_token, run_model
    ck, prj, _ = engine
    cfg = load_config(ck)
    model = BitNetForCausalLM.from_pretrained(ck)
    model.eval()
    captured = {}
    model.model.layers[-1].register_forward_hook(lambda mod, inp, out: captured.update(y=out[0] if isinstance(out, tuple) else out))

    def reference(ids=None, embeds=None):
        with torch.no_grad():
            out = model(torch.tensor([ids])) if embeds is None else model(inputs_embeds=torch.tensor(embeds[None],
                                                                                                  dtype=torch.float32))
        return int(out.logits[0, -1].argmax()), captured["y"][0].double().numpy()

    rng = np.random.default_rng(0)
    prompts = [rng.integers(2, cfg.vocab_size, size=n).tolist() for n in (4, 3, 5, 6, 7, 8)]
    x = embed(prj, prompts[0])
    res = run_model(prj, x, "cosim")
    assert res["pass"] and res["mismatches_vs_golden_chain"] == 0, res["layers"]
    assert all(layer["cycles_match_model"] and len(layer["steps"]) == 23 for layer in res["layers"])
    tok_ref, y_ref = reference(prompts[0])
    err = np.linalg.norm(res["y"] - y_ref) / np.linalg.norm(y_ref)
    # the floor (docs/layer_numerics.md section 5): transformers itself, fed the embeddings rounded to the layer's
    # input grid (2^-x_frac), moves by as much, because every BitLinear re-quantizes its input to int8.
    # Measured: 4.2 % against a floor of 4.0 % (3.2-4.2 % vs 3.3-3.9 % over the six prompts)
    unit = 2.0 ** json.loads((prj / "engine.json").read_text())["numerics"]["x_frac"]
    floor = np.linalg.norm(reference(embeds=np.rint(x * unit) / unit)[1] - y_ref) / np.linalg.norm(y_ref)
    assert err < 1.5 * floor + 0.005 and err < 0.06, (err, floor)
    # the decode chain: token 4 at position 3 against the K/V caches the cosim prefill of tokens 0..2 wrote, in
    # cosim through both layers, equals the 4-token prefill's last row bit for bit
    pre = run_model(prj, x[:3], "golden")
    dec = run_model(prj, x[3:], "cosim", pos0=3, caches=[(l["k_cache"], l["v_cache"]) for l in pre["layers"]])
    assert dec["pass"] and dec["mode"] == "decode" and all(l["cycles_match_model"] for l in dec["layers"])
    np.testing.assert_array_equal(dec["y"][0], res["y"][3])
    matches = []
    for ids in prompts:
        y = res["y"] if ids is prompts[0] else run_model(prj, embed(prj, ids), "golden")["y"]
        tok, _ = greedy_next_token(prj, y[-1], cfg.rms_norm_eps)
        matches.append(tok == reference(ids)[0])
    # measured: 5 of 6; the miss is a near-tie (transformers' top two logits 0.006 apart, 2 % of their spread)
    assert matches[0] and sum(matches) >= len(prompts) - 1, matches


def test_generate_bad_input(engine, tmp_path):
    ck, prj, tmp = engine
    other = _config(tmp_path, "other")            # a plan made for another model
    r = _hwgen("llm", "plan", "--model", other, "--target", "kv260", "--pin", "T=16", "--pin", "Q=16",
               "--pin", "M_max=16", "--pin", "buffer_memory=uram", "--context", 128, "--prompt", 16,
               "--out", tmp_path / "plan")
    assert r.returncode == 0, r.stderr
    r = _hwgen("llm", "generate", "--model", ck, "--plan", tmp_path / "plan" / "plan.json", "--out", tmp_path / "g")
    assert r.returncode == 2 and "plan" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "g").exists()
    r = _hwgen("llm", "run", prj, "--ids", "5,17,42", "--flow", "golden")
    assert r.returncode == 0 and json.loads(r.stdout)["pass"], r.stderr
    r = _hwgen("llm", "run", prj, "--ids", "5,17,99999")
    assert r.returncode == 2 and "ids" in r.stderr, r.stderr
    bare = tmp_path / "bare"                      # the right config, but no weights
    bare.mkdir()
    (bare / "config.json").write_text((ck / "config.json").read_text())
    r = _hwgen("llm", "generate", "--model", bare, "--plan", tmp / "plan" / "plan.json", "--out", tmp_path / "h")
    assert r.returncode == 2 and "safetensors" in r.stderr and not (tmp_path / "h").exists(), r.stderr


def test_int8_lm_head_image_and_accuracy(engine):
    """The generated int8 LM head (`--lm-head-bits 8`): rows within half a step of the checkpoint's float head, and
    on 32 prompts through the engine's golden chain the greedy token of the int8 head agrees with transformers'
    BitNetForCausalLM as often as the float head does (one near-tie of slack), its logits within 2 % of the float
    head's largest logit. Measured: 30 of 32 for both heads, the same 32 tokens from both, max logit error 1.1 %
    (docs/llm_plan.md)."""
    from transformers import BitNetForCausalLM
    from hwgen.llm.config import load_config
    from hwgen.llm.generate import embed, greedy_next_token, host_tensors, lm_head_logits, load_engine, run_model
    ck, prj, _ = engine
    cfg = load_config(ck)
    plan = json.loads((prj / "plan.json").read_text())
    _, manifest = load_engine(prj)
    entries = {e["name"]: e for e in manifest["host"]["entries"]}
    assert plan["lm_head"]["bits"] == 8 and "lm_head.weight" not in entries
    assert entries["lm_head.weight.int8"]["size"] + entries["lm_head.weight.scale"]["size"] == plan["lm_head"]["bytes_per_token"]
    h = host_tensors(prj, manifest)
    model = BitNetForCausalLM.from_pretrained(ck)
    model.eval()
    w = model.lm_head.weight.detach().double().numpy()
    q, scale = h["lm_head.weight.int8"], h["lm_head.weight.scale"]
    assert np.all(np.abs(q).max(axis=1) == 127)
    assert np.all(np.abs(q * scale[:, None] - w) <= 0.5 * scale[:, None] * (1 + 1e-6))
    rng = np.random.default_rng(0)
    prompts = [rng.integers(2, cfg.vocab_size, size=n).tolist() for n in (4, 3, 5, 6, 7, 8)]
    prompts += [rng.integers(2, cfg.vocab_size, size=int(rng.integers(2, 9))).tolist() for _ in range(26)]
    agree8 = agree_float = same = 0
    worst = 0.0
    for ids in prompts:
        y = run_model(prj, embed(prj, ids), "golden")["y"][-1]
        tok8, logits8 = greedy_next_token(prj, y, cfg.rms_norm_eps)
        v = y / np.sqrt(np.mean(y * y) + cfg.rms_norm_eps) * h["model.norm.weight"]
        assert np.allclose(logits8, lm_head_logits(h, v))
        logits_float = lm_head_logits({"lm_head.weight": w}, v)       # the float head's path
        with torch.no_grad():
            ref = int(model(torch.tensor([ids])).logits[0, -1].argmax())
        agree8 += tok8 == ref
        agree_float += int(np.argmax(logits_float)) == ref
        same += tok8 == int(np.argmax(logits_float))
        worst = max(worst, float(np.max(np.abs(logits8 - logits_float)) / np.max(np.abs(logits_float))))
    print(f"int8 head: {agree8}/{len(prompts)} agree with transformers, float head {agree_float}/{len(prompts)}, "
          f"int8 = float token {same}/{len(prompts)}, max logit error {100 * worst:.2f} % of the largest logit")
    assert agree8 >= agree_float - 1 and same >= len(prompts) - 1 and worst < 0.02, (agree8, agree_float, same, worst)

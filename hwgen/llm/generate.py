"""`hwgen llm generate`: the planned layer engine and its weight images.

    PRJ/plan.json                   the plan it was generated from
    PRJ/engine.json                 format, config, numerics, M_max, L_max, the prefill and decode chains (steps,
                                    spec, the kernel project each step runs on), the weight manifest's name
    PRJ/kernels/<design>/           one HLS + RTL project per distinct kernel design of the engine, shared by both
                                    chains and by every layer (one engine, reused)
    PRJ/weights/layer_NNN.bin       per layer: the 7 packed TLMM index streams, then the RMSNorm weights and
                                    weight scales (the kernels' setup constants)
    PRJ/weights/host.bin            embedding, final norm and LM head for the host (float32, little-endian); with
                                    the plan's int8 LM head (`lm_head.bits` 8): lm_head.weight.int8 [vocab, hidden]
                                    int8 and lm_head.weight.scale [vocab] float32 instead of a float LM head
    PRJ/weights/manifest.json       every entry: file, offset, size, sha256, byte order, and which kernel / port

One engine for all layers needs one set of fixed-point formats: per layer the generator would pick the most
fraction bits the layer's weights allow (hwgen/llm/layer.py resolve_numerics, RMSNorm and weight-scale binary
points); the engine takes the minimum over all layers, which is safe for every layer (more headroom), and every
layer's constants are quantized to it.

A TLMM stream entry is the s_axis_w beats of one call, in the order the streaming TLMM consumes them (the kernel's
own `weight_words`: chunk major, column block, lane): each beat is `beat_bits` bits (`words_per_beat` words of
`fields_per_word` `field_bits`-bit base-3 indices, field 0 at the least significant bits), stored as a
little-endian integer of `beat_bytes` bytes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..spec import canonical_json
from .checkpoint import load_layer
from .config import BitNetConfig, load_config
from .layer import LINEARS, NORMS, LayerNumerics, LayerProgram, Step, _short, layer_program, to_fixed

FORMAT = "hwgen-llm-engine/1"
MANIFEST_FORMAT = "hwgen-weights/1"
ALIGN = 64          # entry offsets, bytes (a cache line / AXI burst boundary)
MODES = ("prefill", "decode")
CONFIG_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
               "head_dim", "hidden_act", "vocab_size")


def load_plan(path: Path) -> dict:
    try:
        plan = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError("plan", f"{path}: not a readable plan.json ({err})") from None
    from .plan import FORMAT as PLAN_FORMAT
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise UserError("plan", f"{path}: format {plan.get('format') if isinstance(plan, dict) else None!r}; "
                                f"expected {PLAN_FORMAT} (written by `hwgen llm plan`)")
    return plan


def _check_model(plan: dict, cfg: BitNetConfig) -> None:
    for k in CONFIG_KEYS:
        if plan["model"].get(k) != getattr(cfg, k):
            raise UserError("plan", f"was made for {k}={plan['model'].get(k)!r}; the model has {getattr(cfg, k)!r}")


# ----------------------------------------------------------------------------- the engine's formats

def engine_formats(cfg: BitNetConfig, weights: list, num: LayerNumerics, params: dict, M_max: int, L_max: int):
    """The fixed-point formats one engine can run every layer with: the minimum, over the layers, of the fraction
    bits each layer's own weights would get. Returns (numerics, per-step spec overrides)."""
    fr: dict[str, int] = {}
    for w in weights:
        prog = layer_program(cfg, w, num, M_max=M_max, L_max=L_max, params=params, mode="prefill")
        for k in ("lin_frac", "ffn_frac", "glu_frac"):
            fr[k] = min(fr.get(k, 99), getattr(prog.num, k))
        for s in prog.steps:
            key = "g_frac" if s.kind == "rmsnorm_quant" else "ws_frac" if s.kind == "bitlinear_scale" else None
            if key:
                fr[s.name] = min(fr.get(s.name, 99), s.spec[key])
    eng_num = num.model_copy(update={k: fr[k] for k in ("lin_frac", "ffn_frac", "glu_frac")})
    over = {name: {("g_frac" if name in {_short(n) for n in NORMS} else "ws_frac"): v}
            for name, v in fr.items() if not name.endswith("_frac")}
    return eng_num, over


def _merge(params: dict, over: dict) -> dict:
    out = {k: dict(v) for k, v in params.items()}
    for k, v in over.items():
        out.setdefault(k, {}).update(v)
    return out


def layer_engine_program(cfg, w, num, params, M_max, L_max, mode) -> LayerProgram:
    """The layer's program on the engine: the engine's formats, the layer's constants quantized to them."""
    prog = layer_program(cfg, w, num, M_max=M_max, L_max=L_max, params=params, mode=mode)
    specs = {s.name: s.spec for s in prog.steps}
    for n in NORMS:
        prog.consts["g_" + _short(n)] = to_fixed(w.norms[n], num.g_bits, specs[_short(n)]["g_frac"], n)
    for n in LINEARS:
        frac = specs[_short(n) + "_scale"]["ws_frac"]
        prog.consts["ws_" + _short(n)] = np.array([int(round(w.linears[n].scale * 2.0 ** frac))], np.int64)
    return prog


# ----------------------------------------------------------------------------- weight images

def pack_beats(fields: np.ndarray, field_bits: int, beat_fields: int) -> tuple[bytes, int, int]:
    """[words, T] fields -> bytes: beats of `beat_fields` fields, each a little-endian integer (field 0 at the LSBs)
    padded to whole bytes. Returns (bytes, beats, beat_bytes)."""
    f = np.asarray(fields, np.int64).reshape(-1, beat_fields)
    bits = ((f[..., None] >> np.arange(field_bits)) & 1).astype(np.uint8).reshape(f.shape[0], -1)
    beat_bytes = -(-bits.shape[1] // 8)
    pad = beat_bytes * 8 - bits.shape[1]
    if pad:
        bits = np.concatenate([bits, np.zeros((bits.shape[0], pad), np.uint8)], axis=1)
    return np.packbits(bits, axis=1, bitorder="little").tobytes(), f.shape[0], beat_bytes


def unpack_beats(data: bytes, entry: dict) -> np.ndarray:
    """The inverse of pack_beats: the [words, fields_per_word] index fields of a stream entry."""
    raw = np.frombuffer(data, np.uint8).reshape(entry["beats"], entry["beat_bytes"])
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, : entry["beat_bits"]]
    fb = entry["field_bits"]
    f = bits.reshape(-1, fb).astype(np.int64) @ (1 << np.arange(fb, dtype=np.int64))
    return f.reshape(-1, entry["fields_per_word"])


class _Image:
    def __init__(self):
        self.buf = bytearray()
        self.entries: list[dict] = []

    def add(self, data: bytes, **meta) -> None:
        off = -(-len(self.buf) // ALIGN) * ALIGN
        self.buf.extend(b"\0" * (off - len(self.buf)))
        self.buf.extend(data)
        self.entries.append({**meta, "offset": off, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})


def layer_image(prog: LayerProgram, designs: dict) -> _Image:
    from ..kernels import get, parse_spec
    img = _Image()
    for s in prog.steps:
        if s.kind != "tlmm":
            continue
        spec = parse_spec(s.spec)
        k = get("tlmm")
        m = k.model(spec)
        fields = k.weight_words(spec, prog.consts[s.inputs["w"]])         # the stream the golden / test bench uses
        data, beats, beat_bytes = pack_beats(fields, m.field_bits, m.beat_words * m.T)
        img.add(data, name=f"{s.name}.w", step=s.name, design=designs[s.name], port="s_axis_w", role="data",
                kind="tlmm_index_stream", beats=beats, beat_bits=m.w_beat_bits, beat_bytes=beat_bytes,
                words_per_beat=m.beat_words, fields_per_word=m.T, field_bits=m.field_bits, G=m.G,
                K=spec.K, N=spec.N, table_style=m.table_style)
    for s in prog.steps:
        key = {"rmsnorm_quant": ("gamma", "g_bits", "g_frac"), "bitlinear_scale": ("ws", "ws_bits", "ws_frac")}.get(s.kind)
        if key is None:
            continue
        port, bits_key, frac_key = key
        vals = np.asarray(prog.consts[s.inputs[port]], np.int64).reshape(-1)
        img.add(vals.astype("<i4").tobytes(), name=f"{s.name}.{port}", step=s.name, design=designs[s.name], port=port,
                role="setup", kind="constant", dtype="<i4", count=int(vals.size), bits=s.spec[bits_key],
                frac=s.spec[frac_key])
    return img


# ----------------------------------------------------------------------------- generate

def generate_engine(model_dir: Path, plan_path: Path, out: Path) -> dict:
    from ..kernels import parse_spec
    from ..render import atomic_folder, write_project
    from .safetensors_io import TensorStore

    plan = load_plan(plan_path)
    cfg = load_config(model_dir)
    _check_model(plan, cfg)
    target, d = plan["target"], plan["design"]
    params, M_max, L_max = d["kernel_params"], d["M_max"], d["L_max"]
    num0 = LayerNumerics.model_validate(d["numerics"])
    weights = [load_layer(model_dir, cfg, i) for i in range(cfg.num_hidden_layers)]
    store = TensorStore(model_dir)
    host_names = ["model.embed_tokens.weight", "model.norm.weight"] + ([] if cfg.tie_word_embeddings else ["lm_head.weight"])
    head_bits = plan.get("lm_head", {}).get("bits", 16)      # plans written before the option: the float head
    for n in host_names:
        if n not in store:
            raise UserError("model", f"checkpoint has no tensor {n} (the host's embedding / final norm / LM head)")
    num, over = engine_formats(cfg, weights, num0, params, M_max, L_max)
    eng_params = _merge(params, over)
    out = Path(out)
    with atomic_folder(out) as staging:
        chains, designs_by_key, design_of = {}, {}, {}
        for mode in MODES:
            prog = layer_engine_program(cfg, weights[0], num, eng_params, M_max, L_max, mode)
            steps = []
            for s in prog.steps:
                name = f"eng_{s.kind}" if s.kind.startswith("attention") else f"eng_{s.name}"
                spec = parse_spec({**s.spec, "target": target, "name": name})
                key = canonical_json(spec.identity())
                if key not in designs_by_key:
                    designs_by_key[key] = spec.design_name
                    write_project(spec, staging / "kernels" / spec.design_name, "both")
                design_of[(mode, s.name)] = designs_by_key[key]
                steps.append({**s.as_dict(), "spec": {**s.spec, "target": target},
                              "project": f"kernels/{designs_by_key[key]}"})
            chains[mode] = steps
        (staging / "weights").mkdir()
        manifest = {"format": MANIFEST_FORMAT, "byte_order": "little", "align": ALIGN, "layers": [], "host": None}
        plan_bytes = plan["memory"]["weight_layout"]["bytes_per_layer"]
        for i, w in enumerate(weights):
            prog = layer_engine_program(cfg, w, num, eng_params, M_max, L_max, "prefill")
            for s, ref in zip(prog.steps, chains["prefill"]):        # one engine: every layer has its specs
                if {**s.spec, "target": target} != ref["spec"]:
                    raise AssertionError(f"layer {i} step {s.name} differs from the engine's spec")
            img = layer_image(prog, {s.name: design_of[("prefill", s.name)] for s in prog.steps})
            fname = f"layer_{i:03d}.bin"
            (staging / "weights" / fname).write_bytes(bytes(img.buf))
            stream_bytes = sum(e["size"] for e in img.entries if e["kind"] == "tlmm_index_stream")
            if stream_bytes != plan_bytes:
                raise AssertionError(f"layer {i}: {stream_bytes} stream bytes; the plan counts {plan_bytes}")
            manifest["layers"].append({"layer": i, "file": fname, "size": len(img.buf),
                                       "sha256": hashlib.sha256(bytes(img.buf)).hexdigest(), "entries": img.entries})
        host = _Image()
        for n in host_names:
            if n == "lm_head.weight" and head_bits == 8:
                continue
            a = np.asarray(store.get(n), "<f4")
            host.add(a.tobytes(), name=n, kind="host_tensor", dtype="<f4", shape=list(a.shape), role="host")
        if head_bits == 8:       # the int8 LM head is its own copy even when tied (the lookup keeps float rows)
            src = "model.embed_tokens.weight" if cfg.tie_word_embeddings else "lm_head.weight"
            q, scale = quantize_rows_int8(np.asarray(store.get(src), np.float32))
            host.add(q.tobytes(), name="lm_head.weight.int8", kind="host_tensor", dtype="|i1", shape=list(q.shape),
                     role="host", source=src, quantization="int8, one absmax scale per row (lm_head.weight.scale)")
            host.add(scale.astype("<f4").tobytes(), name="lm_head.weight.scale", kind="host_tensor", dtype="<f4",
                     shape=list(scale.shape), role="host", source=src)
        head_entries = [e for e in host.entries if e["name"].startswith("lm_head")] or \
            [e for e in host.entries if e["name"] == "model.embed_tokens.weight"]
        # the plan counts the bytes the host streams: int8 exactly as written; bf16 is written here as float32
        head_size = sum(e["size"] for e in head_entries) // (1 if head_bits == 8 else 2)
        if "lm_head" in plan and head_size != plan["lm_head"]["bytes_per_token"]:
            raise AssertionError(f"LM head: {head_size} bytes written; the plan counts {plan['lm_head']}")
        (staging / "weights" / "host.bin").write_bytes(bytes(host.buf))
        manifest["host"] = {"file": "host.bin", "size": len(host.buf), "entries": host.entries,
                            "sha256": hashlib.sha256(bytes(host.buf)).hexdigest()}
        (staging / "weights" / "manifest.json").write_text(json.dumps(manifest, indent=1))
        meta = {"format": FORMAT, "model": str(Path(model_dir).resolve()), "target": target, "M_max": M_max,
                "L_max": L_max, "numerics": num.model_dump(), "config": cfg.model_dump(), "chains": chains,
                "weights": "weights/manifest.json", "engine_formats": over}
        (staging / "engine.json").write_text(json.dumps(meta, indent=1))
        (staging / "plan.json").write_text(json.dumps(plan, indent=1))
    return {"project": str(out), "target": target, "kernels": sorted(set(designs_by_key.values())),
            "layers": cfg.num_hidden_layers, "weight_bytes_per_layer": plan_bytes,
            "manifest": str(out / "weights" / "manifest.json")}


# ----------------------------------------------------------------------------- reading it back

def load_engine(prj: Path) -> tuple[dict, dict]:
    prj = Path(prj)
    try:
        meta = json.loads((prj / "engine.json").read_text())
        manifest = json.loads((prj / meta["weights"]).read_text())
    except (OSError, json.JSONDecodeError, KeyError) as err:
        raise UserError("project", f"{prj}: not a generated engine ({err})") from None
    if meta.get("format") != FORMAT:
        raise UserError("project", f"{prj}: engine.json format {meta.get('format')!r}; expected {FORMAT}")
    return meta, manifest


def read_entry(prj: Path, file: str, entry: dict) -> bytes:
    with open(Path(prj) / "weights" / file, "rb") as fh:
        fh.seek(entry["offset"])
        data = fh.read(entry["size"])
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise UserError("weights", f"{file}: entry {entry['name']} fails its sha256")
    return data


def engine_program(prj: Path, layer: int, mode: str, meta: dict | None = None, manifest: dict | None = None) -> LayerProgram:
    """Layer `layer` on the engine, its constants read from the weight images alone (the TLMM weights decoded
    from the packed streams by the kernel's own decoder)."""
    from ..kernels import get, parse_spec
    from ..kernels.ternary import pack_fields
    if meta is None:
        meta, manifest = load_engine(prj)
    lay = manifest["layers"][layer]
    steps = [Step(s["name"], s["kind"], s["spec"], s["inputs"], s["outputs"], s["glue"]) for s in meta["chains"][mode]]
    by_name = {s.name: s for s in steps}
    consts = {}
    for e in lay["entries"]:
        data = read_entry(prj, lay["file"], e)
        step = by_name[e["step"]]          # both chains name the steps alike; only the attention differs
        if e["kind"] == "tlmm_index_stream":
            words = pack_fields(unpack_beats(data, e), e["field_bits"])
            consts[step.inputs["w"]] = get("tlmm").decode_weights(parse_spec(step.spec), words).astype(np.int64)
        else:
            consts[step.inputs[e["port"]]] = np.frombuffer(data, e["dtype"]).astype(np.int64)
    cfg = BitNetConfig.model_validate(meta["config"])
    return LayerProgram(cfg, LayerNumerics.model_validate(meta["numerics"]), meta["M_max"], meta["L_max"], consts,
                        steps, mode)


def quantize_rows_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight-only int8 with one scale per row: scale = absmax / 127 (float32), q = round(w / scale) in -127..127.
    An all-zero row gets scale 1 (q = 0)."""
    w = np.asarray(w, np.float32)
    amax = np.max(np.abs(w), axis=1)
    scale = np.where(amax > 0, amax / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def lm_head_logits(h: dict, v: np.ndarray) -> np.ndarray:
    """The host's LM head on the normed hidden state v. int8: each logit is the row's integer weights dotted with v
    in float, times the row's scale (the same as dequantizing the row first: the scale factors out of the sum)."""
    if "lm_head.weight.int8" in h:
        return h["lm_head.weight.scale"] * (h["lm_head.weight.int8"] @ v)
    return (h["lm_head.weight"] if "lm_head.weight" in h else h["model.embed_tokens.weight"]) @ v   # tied: the table


def host_tensors(prj: Path, manifest: dict) -> dict:
    h = manifest["host"]
    return {e["name"]: np.frombuffer(read_entry(prj, h["file"], e), e["dtype"]).reshape(e["shape"]).astype(np.float64)
            for e in h["entries"]}


# ----------------------------------------------------------------------------- running the model on the engine

def run_model(prj: Path, x: np.ndarray, flow: str = "golden", simulator: str = "auto", pos0: int = 0,
              caches: list | None = None) -> dict:
    """Prefill the float hidden states x [M, hidden] (the embeddings) through every layer of the engine, in
    sequence: each layer's kernels run `flow` (golden, csim or cosim of the engine's kernel projects) on the
    previous kernels' and the previous layer's *simulated* outputs. Each layer is also run through its golden
    model on the same input (bit-exact check per layer), and the whole golden chain on its own (end to end)."""
    from .flow import project_executor
    from .layer import golden_executor, run_program
    if flow not in ("golden", "csim", "cosim"):
        raise UserError("flow", f"{flow!r}; allowed: golden, csim, cosim")
    prj = Path(prj).resolve()
    meta, manifest = load_engine(prj)
    mode = "prefill" if caches is None else "decode"
    project_of = {s["name"]: prj / s["project"] for s in meta["chains"][mode]}

    x = np.asarray(x, np.float64)
    xg = x
    layers = []
    for i in range(len(manifest["layers"])):
        prog = engine_program(prj, i, mode, meta, manifest)
        cache = {} if caches is None else {"pos0": pos0, "k_cache": caches[i][0], "v_cache": caches[i][1]}
        golden = run_program(prog, x, golden_executor, **cache)
        steps: list[dict] = []
        sim = golden if flow == "golden" else run_program(prog, x, project_executor(project_of, flow, simulator, steps),
                                                          **cache)
        mism = int(np.count_nonzero(sim["y"] != golden["y"]))
        layers.append({"layer": i, "mismatches": mism, "steps_pass": all(s["pass"] for s in steps),
                       "cycles_match_model": all(s.get("cycles") == s.get("model_cycles") for s in steps),
                       "steps": steps})
        Hkv, d = prog.cfg.num_key_value_heads, prog.cfg.head_dim
        layers[-1]["k_cache"] = sim["k_rot"].reshape(-1, Hkv, d)      # this layer's K/V cache rows (its format)
        layers[-1]["v_cache"] = sim["v_lin"].reshape(-1, Hkv, d)
        x = sim["y_float"]
        xg = run_program(prog, xg, golden_executor, **cache)["y_float"]   # the golden chain, golden inputs all the way
    end_to_end = int(np.count_nonzero(x != xg))
    return {"flow": flow, "mode": mode, "tokens": int(x.shape[0]), "y": x, "y_golden_chain": xg,
            "pass": end_to_end == 0 and all(l["mismatches"] == 0 and l["steps_pass"] for l in layers),
            "mismatches_vs_golden_chain": end_to_end, "layers": layers}


def greedy_next_token(prj: Path, y_last: np.ndarray, eps: float) -> tuple[int, np.ndarray]:
    """The host side: final RMSNorm and the LM head (float or int8, as generated) on the last token's hidden
    state -> argmax."""
    _, manifest = load_engine(prj)
    h = host_tensors(prj, manifest)
    v = np.asarray(y_last, np.float64)
    v = v / np.sqrt(np.mean(v * v) + eps) * h["model.norm.weight"]
    logits = lm_head_logits(h, v)
    return int(np.argmax(logits)), logits


def embed(prj: Path, ids) -> np.ndarray:
    _, manifest = load_engine(prj)
    return host_tensors(prj, manifest)["model.embed_tokens.weight"][np.asarray(ids, np.int64)]

"""Not kept (removed in the next commit): the k = 1 iteration as one graph, G's two passes on [z; z'] with per-half BatchNorm, D's Adam inside as arithmetic; prints its numbers against eager after 5 steps and its speed against compile: step, interleaved.

    cd benchmarks && python one_graph_iteration.py
"""
import sys, time, statistics, copy; sys.path.insert(0, __import__("os").path.dirname(__file__))
import torch
from torch import nn
from speed import PEER_CONFIG, Loop
from ganlab.config import config_from_dict
from ganlab.training.runtime import configure_cpu
from ganlab.training import algorithm
from ganlab.training.fused_step import Stepper
from ganlab.training.state import build_state, seeded_rng
configure_cpu(2)

class PairLinear(torch.autograd.Function):
    @staticmethod
    def forward(h1, h2, W, b):
        y = torch.addmm(b, torch.cat([h1, h2]), W.t())
        return y[: h1.shape[0]], y[h1.shape[0]:]
    @staticmethod
    def setup_context(ctx, inputs, output):
        h1, h2, W, b = inputs
        ctx.save_for_backward(h2, W)
        ctx.set_materialize_grads(False)
    @staticmethod
    def backward(ctx, dy1, dy2):
        h2, W = ctx.saved_tensors
        return None, dy2 @ W, dy2.t() @ h2, dy2.sum(0)

class Pair(nn.Module):
    def __init__(self, G):
        super().__init__(); self.G = G
    def forward(self, z1, z2):
        h1, h2 = z1, z2
        for mod in self.G.net:
            if isinstance(mod, nn.Linear):
                h1, h2 = PairLinear.apply(h1, h2, mod.weight, mod.bias)
                h1 = h1.detach()
            else:
                with torch.no_grad():
                    h1 = mod(h1)
                h2 = mod(h2)
        shape = self.G.x_shape
        return h1.view(h1.shape[0], *shape), h2.view(h2.shape[0], *shape)

class Disc(nn.Module):
    def __init__(self, D):
        super().__init__(); self.D = D
    def forward(self, *a): return algorithm.discriminate(self.D, *a)
class Dmod(nn.Module):
    def __init__(self, D):
        super().__init__(); self.D = D
    def forward(self, x): return self.D(x)

def make(state, cfg):
    G, D = state.G, state.D
    game = algorithm.loss_functions(cfg)
    pair, disc, dmod = Pair(G), Disc(D), Dmod(D)
    gn = [f"G.{n}" for n, _ in G.named_parameters()]
    dn = [f"D.{n}" for n, _ in D.named_parameters()]
    gb = {f"G.{n}": b for n, b in G.named_buffers()}
    b1, b2 = state.opt_d.param_groups[0]["betas"]; eps = state.opt_d.param_groups[0]["eps"]
    def it(g_params, d_params, bufs, m, v, t, lr, x, z1, z2):
        def g_loss_fn(g_theta, d_params, bufs):
            fake1, fake2 = torch.func.functional_call(pair, {**g_theta, **bufs}, (z1, z2))
            def d_loss_fn(d_theta):
                d_real, d_fake = torch.func.functional_call(disc, d_theta, (x, fake1))
                return game.d_loss(d_real, d_fake), (d_real, d_fake)
            d_theta = dict(zip(dn, d_params))
            dg, (loss_d, (d_real, d_fake)) = torch.func.grad_and_value(d_loss_fn, has_aux=True)(d_theta)
            dg = [dg[n] for n in dn]
            t1 = t + 1
            bc1 = 1 - b1 ** t1[0]; bc2s = (1 - b2 ** t1[0]).sqrt()
            new_p, new_m, new_v = [], [], []
            for p, g, mm, vv in zip(d_params, dg, m, v):
                mm = mm * b1 + g * (1 - b1)
                vv = vv * b2 + g * g * (1 - b2)
                p = p - (lr / bc1) * mm / (vv.sqrt() / bc2s + eps)
                new_p.append(p); new_m.append(mm); new_v.append(vv)
            logits = torch.func.functional_call(dmod, dict(zip(dn, new_p)), (fake2,))
            loss_g = game.g_loss(logits, None)
            return loss_g, (d_real, d_fake, loss_d, dg, new_p, new_m, new_v, t1)
        g_theta = dict(zip(gn, g_params))
        gg, (loss_g, (d_real, d_fake, loss_d, dg, new_p, new_m, new_v, t1)) = torch.func.grad_and_value(g_loss_fn, has_aux=True)(g_theta, d_params, bufs)
        for a, b in zip(d_params, new_p): a.copy_(b)
        for a, b in zip(m, new_m): a.copy_(b)
        for a, b in zip(v, new_v): a.copy_(b)
        t.copy_(t1)
        return d_real, d_fake, loss_d, loss_g, [gg[n] for n in gn], dg
    comp = torch.compile(it, fullgraph=True, dynamic=False)
    from torch._inductor import config as ic
    gstep = Stepper(state.opt_g, cfg.g_optimizer)
    dstep = Stepper(state.opt_d, cfg.d_optimizer)
    gp = [p.detach() for p in G.parameters()]; dp = [p.detach() for p in D.parameters()]
    st = dstep.state()
    lr_t = torch.tensor(state.opt_d.param_groups[0]["lr"])
    holder = {}
    def iteration():
        for p in (*G.parameters(), *D.parameters()): p.grad = None
        z1 = state.prior.sample(cfg.m); x = state.data.sample(cfg.m); z2 = state.prior.sample(cfg.m)
        args = (gp, dp, gb, st["exp_avg"], st["exp_avg_sq"], st["t"], lr_t, x, z1, z2)
        if "fn" not in holder:
            with ic.patch(fallback_random=True, cpp_wrapper=True), torch.no_grad():
                holder["fn"] = comp.aot_compile((args, {}))
            holder["fn"].disable_guard_check()
        with torch.no_grad():
            d_real, d_fake, loss_d, loss_g, gg, dg = holder["fn"](*args)
        gstep.step(gp, gg)
        for p, g in zip(G.parameters(), gg): p.grad = g
        for p, g in zip(D.parameters(), dg): p.grad = g
        return loss_d, loss_g
    return iteration

cfg = config_from_dict(PEER_CONFIG).model_copy(update={"compile": "step"})
x = torch.rand(10_000, 784) * 2 - 1
ref = Loop(cfg, x, warmup=1)
# a second state, same seed, trained by the prototype
with seeded_rng(cfg):
    st2 = build_state(cfg, x)
ref0 = Loop(cfg, x, warmup=0) if False else None
it = make(st2, cfg)
# numerics: fresh states from the same seed, 5 steps each
with seeded_rng(cfg):
    sA = build_state(cfg, x)
with seeded_rng(cfg):
    sB = build_state(cfg, x)
algorithm.algorithm1(cfg.model_copy(update={"steps": 5}), sA)
itB = make(sB, cfg)
for _ in range(5): itB()
for (n, a), b in zip(sA.G.state_dict().items(), sB.G.state_dict().values()):
    if a.is_floating_point(): print("G", n, f"{(a-b).abs().max().item():.2e}")
for (n, a), b in zip(sA.D.state_dict().items(), sB.D.state_dict().values()):
    print("D", n, f"{(a-b).abs().max().item():.2e}")
for _ in range(50): it()
def rate_it(n):
    t0 = time.perf_counter()
    for _ in range(n): it()
    return n / (time.perf_counter() - t0)
R = {"ref": [], "merged": []}
for r in range(7):
    R["ref"].append(ref.rate(200)); R["merged"].append(rate_it(200))
print({k: round(statistics.median(v), 1) for k, v in R.items()}, [round(b / a, 3) for a, b in zip(R["ref"], R["merged"])])

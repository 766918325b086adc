"""Is a Gaussian VAE covered by the propositions? Do its variance-scaling orbits exist in its family?

The propositions hold at stationary points of F because F is stationary along the variance-scaling
orbits (DESIGN.md, "gap" and "criterion"): the decoder orbit sigma^2 -> e^t sigma^2 (every d and z),
and per latent h a prior orbit, alpha_h^2 -> e^t alpha_h^2 for a learned prior, or for the standard
prior the reparametrisation of Eqs. 26-27 (nu_h -> e^(-t/2) nu_h, tau_h^2 -> e^(-t) tau_h^2, and the
decoder's first affine layer compensating on column h). A model is covered when every orbit exists.

How it is decided:

* the kit's own models (`numerics.models`, a `kind` and named links): `numerics.orbits.missing_orbits`,
  exact by construction;
* any other model: PROBED on data, in float64, in two ways.
  - A free variance (one that does not depend on z, resp. x, e.g. exp(log_var) of a parameter): the
    orbit exists when parameters that move nothing else can rescale it, i.e. when the orbit's tangent
    lies in the span of those parameters' tangents (least squares on the Jacobian; a fixed or frozen
    variance has no such parameter and is NOT covered: Fig. 1a's control).
  - A network variance or mean: the kit records every `nn.Linear` call and looks for the affine
    layer whose output a the quantity is an elementwise function f of (also when the layer outputs
    mean and variance together, as chunks). The orbit exists through that layer's (W, b) iff
    f'(a) (dW h + db) = f(a) has a solution for every input h (DESIGN.md's criterion, f(a) in
    span{f'(a), a f'(a)}): solved by least squares over the probe points, per output column, and
    decided on its relative residual (PROBE_TOL). The compensation of Eqs. 26-27 is checked by a finite move: column h of
    every `nn.Linear` that takes z as input is doubled, z_h halved, and decode must not change.
  What the probe cannot decide is reported as undecided (`exists` None, `covered` None), never
  guessed: a variance computed without an `nn.Linear` head (a custom layer, `F.linear`), a head shared
  with another output, a layer called twice, a network whose z enters other than through affine
  layers, or fewer probe rows than the head has unknowns. The criterion is tested on the range of
  activations the probe reaches: the residual of a softplus head shrinks where that range is narrow
  or deep in its linear or exponential regime, which is why the tolerance asks for round-off.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch
from torch import Tensor, nn

from numerics.estimators import prior_variances
from numerics.models import MODEL_KINDS, GaussianVAE

PROBE_TOL = 1e-9
"""Relative RMS residual below which a scaling is realised within the family: exactly, up to the least-squares
round-off. Measured (benchmarks/probe_residuals.py, docs/measurements.md): exp and square heads 2e-15 to
4e-11; softplus heads 4e-5 to 3e-4 at ordinary activations, 3e-8 to 9e-7 when driven 8 units into their
linear or exponential regime (where they nearly are linear or exp heads)."""
PROBE_POINTS = 1024
PROBE_SAMPLES = 4
MIN_ROWS_PER_UNKNOWN = 4
"""A head's criterion is only tested with at least this many probe rows per unknown (its W row and bias):
with fewer, least squares could fit any f. At most ROWS_PER_UNKNOWN rows per unknown are used."""
ROWS_PER_UNKNOWN = 16
COLUMNS_PER_SOLVE = 64
"""Output columns per batched least-squares solve (bounds the memory for wide decoders, D = 784)."""
DECODER = "decoder"


@dataclass
class OrbitCheck:
    """One orbit: whether it exists (None: undecided), how that was decided, and the tangent fit's residual."""

    name: str
    exists: bool | None
    how: str
    detail: str
    residual: float | None = None


@dataclass
class Coverage:
    """covered: every orbit exists (True), one does not (False), or the probe could not decide (None)."""

    method: str                   # "kit model" or "probe"
    orbits: list[OrbitCheck] = field(default_factory=list)
    covered: bool | None = field(init=False)
    reason: str = field(init=False)

    def __post_init__(self) -> None:
        missing = [o for o in self.orbits if o.exists is False]
        open_ = [o for o in self.orbits if o.exists is None]
        self.covered = False if missing else None if open_ else True
        if missing:
            self.reason = f"no {', '.join(o.name for o in missing)} orbit: {missing[0].detail}"
        elif open_:
            self.reason = f"undecided for the {', '.join(o.name for o in open_)} orbit: {open_[0].detail}"
        else:
            how = "the kit's orbit maps" if self.method == "kit model" else "probed on the data"
            self.reason = f"every variance-scaling orbit exists ({how})"

    def to_dict(self) -> dict:
        return asdict(self)


def coverage(model: nn.Module, x: Tensor, *, seed: int = 0) -> Coverage:
    """Whether `model`'s variance-scaling orbits exist (module docstring): exact for the kit's models,
    probed on the first PROBE_POINTS points of x otherwise."""
    if isinstance(model, GaussianVAE) and getattr(model, "kind", None) in MODEL_KINDS:
        from numerics import orbits

        missing = orbits.missing_orbits(model)
        return Coverage("kit model", [OrbitCheck(name, name not in missing, "numerics.orbits",
                                                 missing.get(name, "the kit's orbit map exists"))
                                      for name in orbits.orbit_names(model)])
    return _Probe(model, x, seed).run()


# ------------------------------------------------------------------------------------------- probe
@dataclass
class _Call:
    name: str
    module: nn.Linear
    input: Tensor
    output: Tensor


@contextmanager
def _recorded_linear_calls(model: nn.Module) -> Iterator[list[_Call]]:
    """Every `nn.Linear` call inside `model` while the block runs (name, module, input, output)."""
    calls: list[_Call] = []
    handles = [module.register_forward_hook(
        lambda mod, args, out, name=name: calls.append(_Call(name, mod, args[0], out)))
        for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class _Head:
    """y = f(a[:, columns]) elementwise, a = h W^T + b the output of `call`; y, f'(a) as [P, k]."""

    call: _Call
    columns: list[int]
    y: Tensor
    fprime: Tensor


def _depends(out: Tensor, wrt: Tensor, generator: torch.Generator) -> Tensor | None:
    """d <out, v> / d wrt for a random v (None when out does not depend on wrt)."""
    v = torch.randn(out.shape, generator=generator, dtype=out.dtype)
    (grad,) = torch.autograd.grad(out, wrt, grad_outputs=v, retain_graph=True, allow_unused=True)
    return grad


class _Probe:
    """The probe of the module docstring on a float64 copy of the model, on the CPU (a small problem;
    its least-squares driver, gelsd, is CPU-only)."""

    def __init__(self, model: nn.Module, x: Tensor, seed: int) -> None:
        self.model = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
        self.gen = torch.Generator().manual_seed(seed)
        xp = x[:PROBE_POINTS].detach().to(device="cpu", dtype=torch.float64).clone().requires_grad_(True)
        with torch.enable_grad():
            with _recorded_linear_calls(self.model) as enc_calls:
                nu, tau2 = self.model.encode(xp)
            self.nu, self.tau2 = nu, tau2.expand_as(nu)
            self.H = int(nu.shape[-1])
            eps = torch.randn((PROBE_SAMPLES, *nu.shape), generator=self.gen, dtype=nu.dtype)
            self.z = (nu + tau2.sqrt() * eps).reshape(-1, self.H).detach().requires_grad_(True)
            with _recorded_linear_calls(self.model) as dec_calls:
                mu, sigma2 = self.model.decode(self.z)
            self.mu = mu
            self.sigma2 = sigma2 if sigma2.numel() == 1 else sigma2.expand_as(mu) if sigma2.dim() < mu.dim() else sigma2
            alpha2 = prior_variances(self.model)
            self.alpha2 = alpha2
        self.x = xp
        self.enc_calls, self.dec_calls = enc_calls, dec_calls
        self.calls_per_module: dict[int, int] = {}
        for call in enc_calls + dec_calls:
            self.calls_per_module[id(call.module)] = self.calls_per_module.get(id(call.module), 0) + 1
        self.params = [p for p in self.model.parameters() if p.requires_grad]

    # ------------------------------------------------------------------ orbits
    def run(self) -> Coverage:
        with torch.enable_grad():
            checks = [self.decoder_orbit()] + self.prior_orbits()
        return Coverage("probe", checks)

    def decoder_orbit(self) -> OrbitCheck:
        y = self.sigma2
        on_z = _depends(y, self.z, self.gen) if y.requires_grad else None
        if on_z is None or not bool(on_z.abs().max() > 0):
            row = y.reshape(-1)[:1] if y.numel() == 1 else y.reshape(-1, y.shape[-1])[0]
            return self._free(DECODER, row, torch.ones_like(row), [self.mu, self.nu, self.tau2, self.alpha2],
                              "the decoder variance")
        return self._head_orbit(DECODER, y, self.dec_calls, [self.mu, self.nu, self.tau2], columns=None,
                                what="the decoder variance sigma^2(z)", log=True)

    def prior_orbits(self) -> list[OrbitCheck]:
        names = [f"prior {h}" for h in range(self.H)]
        if self.alpha2 is not None:
            return [self._free(name, self.alpha2, torch.eye(self.H, dtype=self.alpha2.dtype)[h],
                               [self.mu, self.sigma2, self.nu, self.tau2], f"the prior variance alpha_{h}^2")
                    for h, name in enumerate(names)]
        return [self._reparametrisation_orbit(h, name) for h, name in enumerate(names)]

    def _reparametrisation_orbit(self, h: int, name: str) -> OrbitCheck:
        """Eqs. 26-27: tau_h^2 and nu_h rescalable on their own, and the decoder compensating z_h."""
        on_x = _depends(self.tau2, self.x, self.gen) if self.tau2.requires_grad else None
        if on_x is None or not bool(on_x.abs().max() > 0):
            row = self.tau2[0]
            tau = self._free(name, row, torch.eye(self.H, dtype=row.dtype)[h],
                             [self.mu, self.sigma2, self.nu, self.alpha2], f"the encoder variance tau_{h}^2")
        else:
            tau = self._head_orbit(name, self.tau2, self.enc_calls, [self.nu, self.mu, self.sigma2], columns=[h],
                                   what=f"the encoder variance tau_{h}^2(x)", log=True)
        if tau.exists is not True:
            return tau
        mean = self._head_orbit(name, self.nu, self.enc_calls, [self.tau2, self.mu, self.sigma2], columns=[h],
                                what=f"the encoder mean nu_{h}(x)", log=False)
        if mean.exists is not True:
            return mean
        compensation = self._compensation(h)
        if compensation is not None:
            return OrbitCheck(name, None, "probe: Eqs. 26-27", compensation)
        residual = max(tau.residual or 0.0, mean.residual or 0.0)
        return OrbitCheck(name, True, "probe: Eqs. 26-27",
                          f"{tau.detail}; {mean.detail}; the decoder's affine input layer compensates z_{h}", residual)

    # ------------------------------------------------------------------ free variances
    def _free(self, name: str, y: Tensor, target: Tensor, others: list[Tensor | None], what: str) -> OrbitCheck:
        """Parameters that move `y` (a free variance, [k]) but no other output: can they move log y by
        `target` (a [k] direction; 1 = scale all)? Least squares on the Jacobian of log y."""
        how = "probe: free variance"
        others = [o for o in others if o is not None and o.requires_grad]
        moved_elsewhere = set()
        for other in others:
            grads = torch.autograd.grad(other, self.params, grad_outputs=torch.randn(other.shape, generator=self.gen,
                                                                                   dtype=other.dtype),
                                        retain_graph=True, allow_unused=True)
            moved_elsewhere |= {i for i, g in enumerate(grads) if g is not None and bool(g.abs().max() > 0)}
        own = []
        if y.requires_grad:
            grads = torch.autograd.grad(y.sum(), self.params, retain_graph=True, allow_unused=True)
            own = [i for i, g in enumerate(grads) if g is not None and bool(g.abs().max() > 0) and i not in moved_elsewhere]
        if not own:
            return OrbitCheck(name, False, how, f"{what} is fixed: no trainable parameter moves it alone, so it "
                                                f"cannot reach its stationary value (as in Fig. 1a's control)")
        log_y = torch.log(y)
        rows = []
        for k in range(log_y.numel()):
            grads = torch.autograd.grad(log_y.reshape(-1)[k], [self.params[i] for i in own], retain_graph=True,
                                        allow_unused=True)
            rows.append(torch.cat([(g if g is not None else torch.zeros_like(self.params[i])).reshape(-1)
                                   for g, i in zip(grads, own)]))
        J = torch.stack(rows).detach()
        b = target.reshape(-1, 1).to(J.dtype)
        solution = torch.linalg.lstsq(J, b, driver="gelsd").solution
        residual = float((J @ solution - b).norm() / b.norm())
        exists = residual <= PROBE_TOL
        detail = (f"{what} is a free variance that its own parameters rescale (residual {residual:.1e})" if exists
                  else f"{what}'s own parameters cannot rescale it (relative residual {residual:.1e} > {PROBE_TOL:g})")
        return OrbitCheck(name, exists, how, detail, residual)

    # ------------------------------------------------------------------ heads
    def _find_head(self, y: Tensor, calls: list[_Call], others: list[Tensor | None]) -> _Head | str:
        """The last recorded affine layer that `y` is an elementwise function of (or why none is usable)."""
        rows = y.reshape(-1, y.shape[-1])
        P, k = rows.shape
        v1 = 1.0 + torch.rand(y.shape, generator=self.gen, dtype=y.dtype)
        v2 = torch.randn(y.shape, generator=self.gen, dtype=y.dtype)
        for call in reversed(calls):
            out = call.output
            if out.dim() < 1 or out.numel() // out.shape[-1] != P or not out.requires_grad:
                continue
            (g1,) = torch.autograd.grad(y, out, grad_outputs=v1, retain_graph=True, allow_unused=True)
            if g1 is None:
                continue
            g1 = g1.reshape(P, -1)
            columns = [int(c) for c in torch.nonzero(g1.abs().amax(0) > 0).reshape(-1)]
            if len(columns) != k:
                continue
            (g2,) = torch.autograd.grad(y, out, grad_outputs=v2, retain_graph=True)
            fprime = g1[:, columns] / v1.reshape(P, k)
            expected = v2.reshape(P, k) * fprime
            if not torch.allclose(g2.reshape(P, -1)[:, columns], expected, rtol=1e-9,
                                  atol=1e-12 * float(expected.abs().max())):
                continue
            if self.calls_per_module[id(call.module)] != 1:
                return f"its affine layer {call.name} is called more than once"
            for other in others:
                if other is None or not other.requires_grad:
                    continue
                g = _depends(other, out, self.gen)
                if g is not None and bool(g.reshape(P, -1)[:, columns].abs().max() > 0):
                    return f"its affine layer {call.name}'s outputs also feed another output of the model"
            return _Head(call, columns, rows, fprime)
        return "no nn.Linear layer's output is mapped elementwise onto it"

    def _head_orbit(self, name: str, y: Tensor, calls: list[_Call], others: list[Tensor | None],
                    columns: list[int] | None, what: str, log: bool) -> OrbitCheck:
        """The criterion on the head of `y` (columns: which of y's columns must scale; None = all)."""
        how = "probe: affine head"
        head = self._find_head(y, calls, others)
        if isinstance(head, str):
            return OrbitCheck(name, None, how, f"{what}: {head} (the probe cannot decide)")
        h = head.call.input.reshape(head.y.shape[0], -1).detach()
        unknowns = h.shape[1] + 1
        if h.shape[0] < MIN_ROWS_PER_UNKNOWN * unknowns:
            return OrbitCheck(name, None, how, f"{what}: {h.shape[0]} probe rows for {unknowns} unknowns of "
                                               f"{head.call.name}; give more data points")
        rows = slice(0, ROWS_PER_UNKNOWN * unknowns)
        picked = list(range(head.y.shape[1])) if columns is None else columns
        X = torch.cat([h, torch.ones_like(h[:, :1])], 1)[rows]
        residual = 0.0
        for start in range(0, len(picked), COLUMNS_PER_SOLVE):
            block = picked[start:start + COLUMNS_PER_SOLVE]
            fprime, y_rows = head.fprime.detach()[rows, block], head.y.detach()[rows, block]
            if log:   # f'(a)/f(a) (dW h + db) = 1: the log of the variance moves by t
                A, b = (fprime / y_rows).T[:, :, None] * X, torch.ones_like(y_rows).T[:, :, None]
            else:     # f'(a) (dW h + db) = f(a): the value scales
                A, b = fprime.T[:, :, None] * X, y_rows.T[:, :, None]
            solution = torch.linalg.lstsq(A, b, driver="gelsd").solution
            fit = (A @ solution - b).norm(dim=(1, 2)) / b.norm(dim=(1, 2)).clamp_min(1e-300)
            residual = max(residual, float(fit.max()))
        exists = residual <= PROBE_TOL
        detail = (f"{what} = f(affine output of {head.call.name}) with f closed under scaling (residual {residual:.1e})"
                  if exists else
                  f"{what} = f(affine output of {head.call.name}) with f not closed under scaling (DESIGN.md "
                  f"'criterion': relative residual {residual:.1e} > {PROBE_TOL:g}; e.g. a softplus head)")
        return OrbitCheck(name, exists, how, detail, residual)

    def _compensation(self, h: int) -> str | None:
        """None when doubling column h of every nn.Linear that takes z and halving z_h leaves decode
        unchanged (Eqs. 26-27's compensation), else why not."""
        first = [c for c in self.dec_calls if c.input.shape == self.z.shape and torch.equal(c.input, self.z)]
        if not first:
            return "z enters the decoder through no nn.Linear layer; the compensation of Eqs. 26-27 is unknown"
        moved = copy.deepcopy(self.model)
        with torch.no_grad():
            for call in first:
                moved.get_submodule(call.name).weight[:, h] *= 2.0
            z = self.z.detach().clone()
            mu0, s0 = self.model.decode(z)
            z[:, h] /= 2.0
            mu1, s1 = moved.decode(z)
        scale = float(mu0.abs().max()) + 1.0
        if torch.allclose(mu1, mu0, rtol=1e-10, atol=1e-12 * scale) and torch.allclose(s1, s0, rtol=1e-10, atol=0.0):
            return None
        return (f"z enters the decoder other than through {', '.join(c.name for c in first)}; the compensation "
                f"of Eqs. 26-27 could not be constructed")

"""Gaussian VAEs of the paper as `torch.nn.Module`s: the linear VAE, VAE-1, VAE-2 and VAE-3.

Every model exposes the same small interface (`GaussianVAE`): `encode(x) -> (nu, tau2)`,
`decode(z) -> (mu, sigma2)` and `prior_var() -> alpha2`, from which `numerics.estimators` computes the
ELBO, the three-entropy value and the gap residuals for any model kind. Default networks follow
Appendix C.3 (two hidden layers of 50 ReLU units); variance links are options (`numerics.links`).

Initialisation is deterministic given a `torch.Generator` (CPU): all initial values are drawn on the
CPU in float64 and then copied to the requested device and dtype, so one seed gives the same initial
model on every device.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .links import get_link, inverse_link

MODEL_KINDS = ("linear", "vae1", "vae2", "vae3")
"""Valid values of `build_model(kind=...)`."""


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator | None) -> Tensor:
    """U[-bound, bound] draws on the CPU in float64 (the PyTorch default nn.Linear init law)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return (2.0 * u - 1.0) * bound


class UnitColumnLinear(nn.Module):
    """Affine map z -> W~ z + b whose weight columns have unit length (Eqs. 16-18 of VAE-2).

    Implemented as a reparametrisation: the free parameter `weight_raw` is normalised column-wise in
    every forward pass, W~ = U / ||U||_col, so the constraint (18) holds exactly at every step and
    any optimiser can be used.
    """

    def __init__(self, in_features: int, out_features: int, *, dtype, device) -> None:
        super().__init__()
        self.weight_raw = nn.Parameter(torch.empty(out_features, in_features, dtype=dtype, device=device))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype, device=device))

    def weight(self) -> Tensor:
        """The constrained matrix W~ (columns of unit Euclidean norm)."""
        return self.weight_raw / torch.linalg.vector_norm(self.weight_raw, dim=0, keepdim=True)

    def forward(self, z: Tensor) -> Tensor:
        return F.linear(z, self.weight(), self.bias)


class MLP(nn.Module):
    """DNN of Eq. (11): affine maps with ReLU between them, affine (linear) output layer.

    `hidden=()` gives a single affine map. With `unit_norm_first=True` the first affine map is a
    `UnitColumnLinear` (the decoder of VAE-2, Eq. 16).
    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int, *, unit_norm_first: bool = False,
                 dtype=torch.float64, device="cpu") -> None:
        super().__init__()
        sizes = [in_dim, *hidden, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i == 0 and unit_norm_first:
                layers.append(UnitColumnLinear(a, b, dtype=dtype, device=device))
            else:
                layers.append(nn.Linear(a, b, dtype=dtype, device=device))
        self.layers = nn.ModuleList(layers)

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        """PyTorch's default law U[-1/sqrt(fan_in), 1/sqrt(fan_in)], drawn from `generator`."""
        with torch.no_grad():
            for layer in self.layers:
                w = layer.weight_raw if isinstance(layer, UnitColumnLinear) else layer.weight
                bound = 1.0 / math.sqrt(w.shape[1])
                w.copy_(_uniform(tuple(w.shape), bound, generator))
                layer.bias.copy_(_uniform(tuple(layer.bias.shape), bound, generator))

    def forward(self, x: Tensor) -> Tensor:
        features, weight, bias = self.output_affine(x)
        return F.linear(features, weight, bias)

    def output_affine(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The network as features a(x) (the input of the output layer) and the output layer's W, b:
        forward(x) = a(x) W^T + b."""
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        last = self.layers[-1]
        return x, (last.weight() if isinstance(last, UnitColumnLinear) else last.weight), last.bias


class GaussianVAE(nn.Module):
    """A VAE with Gaussian prior N(0, diag(alpha^2)), Gaussian decoder and Gaussian diagonal encoder.

    Subclasses implement `encode`, `decode` and (VAE-2) `prior_var`; `numerics.estimators` uses only
    these, so any user model with this interface can be evaluated.
    """

    kind: str = ""

    def __init__(self, D: int, H: int, *, enc_link: str, dec_link: str) -> None:
        super().__init__()
        self.D = int(D)
        self.H = int(H)
        self.enc_link_name = enc_link
        self.dec_link_name = dec_link
        self.enc_link: Callable[[Tensor], Tensor] = get_link(enc_link)
        self.dec_link: Callable[[Tensor], Tensor] = get_link(dec_link)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x) = N(nu(x), diag(tau2(x))): returns nu [N,H] and tau2 [N,H] (Eqs. 4-7)."""
        raise NotImplementedError

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """p(x|z) = N(mu(z), diag(sigma2(z))): mu [...,D], sigma2 broadcastable to [...,D]."""
        raise NotImplementedError

    def decode_affine(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
        """The decoder as (a, W, b, sigma2) with mu(z) = a(z) W^T + b and a scalar sigma2 ([1]), or None
        when it has no such form. With it, `numerics.estimators` computes ||x - mu||^2 without forming
        mu (the Gram expansion; `estimators.squared_error_affine`)."""
        return None

    def prior_var(self) -> Tensor:
        """Prior variances alpha_h^2 [H]; ones except for VAE-2 (Eq. 15)."""
        ref = next(self.parameters())
        return torch.ones(self.H, dtype=ref.dtype, device=ref.device)

    def variance_parameters(self) -> list[str]:
        """Names (as in `named_parameters()`) of the parameters that set the decoder variance.

        The Fig. 1a control run freezes these (requires_grad=False) at a wrong value.
        """
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor arguments, enough to rebuild the model with `build_model(**config)`."""
        return {"kind": self.kind, "D": self.D, "H": self.H, "enc_link": self.enc_link_name,
                "dec_link": self.dec_link_name, "hidden": list(getattr(self, "hidden", ()))}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Same as `encode` (the encoder is the part that acts on data)."""
        return self.encode(x)


class _ScalarSigmaMixin:
    """Free scalar decoder variance sigma^2 = dec_link(sigma2_raw) (Eq. 2, Eq. 30)."""

    sigma2_raw: nn.Parameter
    dec_link: Callable[[Tensor], Tensor]
    dec_link_name: str

    def sigma2(self) -> Tensor:
        """The decoder variance, shape [1]."""
        return self.dec_link(self.sigma2_raw)

    def set_sigma2(self, value: float) -> None:
        """Set the decoder variance to `value` (through the inverse link)."""
        with torch.no_grad():
            self.sigma2_raw.copy_(inverse_link(self.dec_link_name, torch.tensor([float(value)], dtype=torch.float64)))

    def variance_parameters(self) -> list[str]:
        return ["sigma2_raw"]


class LinearVAE(_ScalarSigmaMixin, GaussianVAE):
    """Linear VAE, Eqs. 29-32.

    Encoder nu = V (x - mu0) (no encoder bias), free per-latent tau_h^2 = enc_link(tau2_raw_h);
    decoder mu = W z + mu0, free scalar sigma^2 = dec_link(sigma2_raw). Parameters: V [H,D], W [D,H],
    mu0 [D], tau2_raw [H], sigma2_raw [1].
    """

    kind = "linear"

    def __init__(self, D: int, H: int, *, enc_link: str = "exp", dec_link: str = "exp",
                 dtype=torch.float64, device="cpu", generator: torch.Generator | None = None) -> None:
        super().__init__(D, H, enc_link=enc_link, dec_link=dec_link)
        self.hidden: tuple[int, ...] = ()
        kw = {"dtype": dtype, "device": device}
        self.V = nn.Parameter(torch.empty(H, D, **kw))
        self.W = nn.Parameter(torch.empty(D, H, **kw))
        self.mu0 = nn.Parameter(torch.empty(D, **kw))
        self.tau2_raw = nn.Parameter(torch.empty(H, **kw))
        self.sigma2_raw = nn.Parameter(torch.empty(1, **kw))
        with torch.no_grad():
            self.V.copy_(_uniform((H, D), 1.0 / math.sqrt(D), generator))
            self.W.copy_(_uniform((D, H), 1.0 / math.sqrt(H), generator))
            self.mu0.copy_(_uniform((D,), 1.0 / math.sqrt(H), generator))
            self.tau2_raw.copy_(inverse_link(enc_link, torch.ones(H, dtype=torch.float64)))
        self.set_sigma2(1.0)

    def tau2(self) -> Tensor:
        """The encoder variances tau_h^2, shape [H] (Eq. 32)."""
        return self.enc_link(self.tau2_raw)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        nu = (x - self.mu0) @ self.V.T
        return nu, self.tau2().expand_as(nu)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z @ self.W.T + self.mu0, self.sigma2()


class _NetworkEncoderMixin:
    """Encoder of VAE-1/2/3 (Eqs. 4-7): nu = DNN_nu(x; V), tau^2 = enc_link(DNN_tau(x; T)), separate MLPs."""

    enc_link: Callable[[Tensor], Tensor]

    def _build_encoder(self, D: int, H: int, hidden: tuple[int, ...], kw: dict) -> list[nn.Module]:
        """Create enc_mean (V) and enc_var (T); returns them in initialisation order."""
        self.enc_mean = MLP(D, hidden, H, **kw)
        self.enc_var = MLP(D, hidden, H, **kw)
        return [self.enc_mean, self.enc_var]

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.enc_mean(x), self.enc_link(self.enc_var(x))


class VAE1(_NetworkEncoderMixin, _ScalarSigmaMixin, GaussianVAE):
    """VAE-1, Eqs. 1-7: prior N(0, 1); decoder N(DNN_mu(z; W), sigma^2 1) with free scalar sigma^2;
    encoder nu = DNN_nu(x; V), tau^2 = enc_link(DNN_tau(x; T)) (separate networks).

    Modules: enc_mean (V), enc_var (T), dec_mean (W); parameter sigma2_raw.
    """

    kind = "vae1"
    _unit_norm_decoder = False

    def __init__(self, D: int, H: int, *, hidden: tuple[int, ...] = (50, 50), enc_link: str = "exp",
                 dec_link: str = "exp", dtype=torch.float64, device="cpu",
                 generator: torch.Generator | None = None) -> None:
        super().__init__(D, H, enc_link=enc_link, dec_link=dec_link)
        self.hidden = tuple(int(h) for h in hidden)
        kw = {"dtype": dtype, "device": device}
        encoder = self._build_encoder(D, H, self.hidden, kw)
        self.dec_mean = MLP(H, self.hidden, D, unit_norm_first=self._unit_norm_decoder, **kw)
        self.sigma2_raw = nn.Parameter(torch.empty(1, **kw))
        for net in (*encoder, self.dec_mean):
            net.reset_parameters(generator)
        self.set_sigma2(1.0)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.dec_mean(z), self.sigma2()

    def decode_affine(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return (*self.dec_mean.output_affine(z), self.sigma2())


class VAE2(VAE1):
    """VAE-2, Eqs. 12-18: as VAE-1 but with learned prior N(0, A), A = diag(alpha_h^2),
    alpha_h^2 = dec_link(prior_var_raw_h) (the generative model's variance link), and a decoder whose
    first affine map has unit-norm columns (`UnitColumnLinear`). The encoder outputs the VAE-2
    coordinates nu~, tau~^2 directly (Eq. 14).
    """

    kind = "vae2"
    _unit_norm_decoder = True

    def __init__(self, D: int, H: int, **kwargs) -> None:
        super().__init__(D, H, **kwargs)
        ref = self.sigma2_raw
        self.prior_var_raw = nn.Parameter(inverse_link(self.dec_link_name, torch.ones(H, dtype=torch.float64))
                                          .to(dtype=ref.dtype, device=ref.device))

    def prior_var(self) -> Tensor:
        return self.dec_link(self.prior_var_raw)


class VAE3(_NetworkEncoderMixin, GaussianVAE):
    """VAE-3, Eqs. 34-38: prior N(0, 1); decoder N(DNN_mu(z; W), diag(sigma_d^2(z))) with
    sigma^2(z) = dec_link(DNN_sigma(z; M)) (affine last layer; separate networks); encoder as VAE-1.

    Modules: enc_mean, enc_var, dec_mean (W), dec_var (M).
    """

    kind = "vae3"

    def __init__(self, D: int, H: int, *, hidden: tuple[int, ...] = (50, 50), enc_link: str = "exp",
                 dec_link: str = "exp", dtype=torch.float64, device="cpu",
                 generator: torch.Generator | None = None) -> None:
        super().__init__(D, H, enc_link=enc_link, dec_link=dec_link)
        self.hidden = tuple(int(h) for h in hidden)
        kw = {"dtype": dtype, "device": device}
        encoder = self._build_encoder(D, H, self.hidden, kw)
        self.dec_mean = MLP(H, self.hidden, D, **kw)
        self.dec_var = MLP(H, self.hidden, D, **kw)
        for net in (*encoder, self.dec_mean, self.dec_var):
            net.reset_parameters(generator)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.dec_mean(z), self.dec_link(self.dec_var(z))

    def variance_parameters(self) -> list[str]:
        return [f"dec_var.{name}" for name, _ in self.dec_var.named_parameters()]


_MODEL_CLASSES: dict[str, type[GaussianVAE]] = {"linear": LinearVAE, "vae1": VAE1, "vae2": VAE2, "vae3": VAE3}


def build_model(kind: str, D: int, H: int, *, hidden: tuple[int, ...] = (50, 50), enc_link: str = "exp",
                dec_link: str = "exp", dtype=torch.float64, device="cpu",
                generator: torch.Generator | None = None) -> GaussianVAE:
    """Build a model of `kind` (one of `MODEL_KINDS`) for data of dimension D with H latents.

    `hidden` is ignored by the linear VAE. Initial values are drawn from `generator` (a CPU
    generator; None uses torch's global RNG, i.e. follows `torch.manual_seed`), so the same generator
    state gives the same model on any device. Initial variances: sigma^2 = 1 and (linear VAE) tau^2 = 1,
    (VAE-2) alpha^2 = 1; network variance heads start at link(default-initialised affine output).
    """
    if kind not in _MODEL_CLASSES:
        raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(MODEL_KINDS)}")
    get_link(enc_link)
    get_link(dec_link)
    cls = _MODEL_CLASSES[kind]
    kw = {"enc_link": enc_link, "dec_link": dec_link, "dtype": dtype, "device": device, "generator": generator}
    if kind != "linear":
        kw["hidden"] = tuple(hidden)
    return cls(D, H, **kw)

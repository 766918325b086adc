"""Gaussian VAEs as a practitioner writes them: plain `nn.Module`s with nn.Linear layers, none of the
kit's classes, only the adapter protocol (encode, decode, optional prior_var)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LINKS = {"exp": torch.exp, "softplus": F.softplus, "square": lambda a: a * a}


class UserVAE(nn.Module):
    """Encoder: a tanh trunk, mean and variance heads (separate, or one layer split in two chunks).
    Decoder: mean net; variance z-dependent (its own net, link `dec`) or a free [D] vector exp(log_var),
    or a fixed buffer (`decoder_variance="fixed"`). Prior N(0, 1) (no prior_var: `UserVAEWithPrior`)."""

    def __init__(self, D: int = 6, H: int = 2, *, enc: str = "exp", dec: str = "exp", decoder_variance: str = "net",
                 chunked: bool = False, width: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(D, width), nn.Tanh())
        self.chunked = chunked
        if chunked:
            self.head = nn.Linear(width, 2 * H)
        else:
            self.mean_head, self.var_head = nn.Linear(width, H), nn.Linear(width, H)
        self.dec_mean = nn.Sequential(nn.Linear(H, width), nn.Tanh(), nn.Linear(width, D))
        self.decoder_variance = decoder_variance
        if decoder_variance == "net":
            self.dec_var = nn.Sequential(nn.Linear(H, width), nn.Tanh(), nn.Linear(width, D))
        elif decoder_variance == "free":
            self.log_var = nn.Parameter(torch.linspace(-1.0, 0.0, D))
        else:
            self.register_buffer("fixed_var", torch.full((D,), 0.5))
        self.enc_link, self.dec_link = LINKS[enc], LINKS[dec]

    def encode(self, x):
        h = self.trunk(x)
        if self.chunked:
            mean, raw = self.head(h).chunk(2, -1)
        else:
            mean, raw = self.mean_head(h), self.var_head(h)
        return mean, self.enc_link(raw)

    def decode(self, z):
        mean = self.dec_mean(z)
        if self.decoder_variance == "net":
            return mean, self.dec_link(self.dec_var(z))
        if self.decoder_variance == "free":
            return mean, self.log_var.exp()
        return mean, self.fixed_var


class UserVAEWithPrior(UserVAE):
    """`UserVAE` with a learned prior N(0, diag(exp(log_prior_var)))."""

    def __init__(self, D: int = 6, H: int = 2, **kwargs) -> None:
        super().__init__(D, H, **kwargs)
        self.log_prior_var = nn.Parameter(torch.zeros(H))

    def prior_var(self):
        return self.log_prior_var.exp()


class UserVAE3(nn.Module):
    """The architecture of the kit's VAE-3 written with nn.Linear layers; `from_kit` copies a kit VAE3's
    weights, so both compute the same function."""

    def __init__(self, D: int, H: int, hidden: tuple[int, ...], *, enc: str = "exp", dec: str = "exp") -> None:
        super().__init__()

        def mlp(a: int, b: int) -> nn.Sequential:
            sizes = [a, *hidden, b]
            layers: list[nn.Module] = []
            for i, (p, q) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers += [nn.Linear(p, q, dtype=torch.float64)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
            return nn.Sequential(*layers)

        self.mean_net, self.var_net = mlp(D, H), mlp(D, H)
        self.dec_mean_net, self.dec_var_net = mlp(H, D), mlp(H, D)
        self.enc_link, self.dec_link = LINKS[enc], LINKS[dec]

    @classmethod
    def from_kit(cls, kit) -> "UserVAE3":
        user = cls(kit.D, kit.H, kit.hidden, enc=kit.enc_link_name, dec=kit.dec_link_name)
        with torch.no_grad():
            for ours, theirs in ((user.mean_net, kit.enc_mean), (user.var_net, kit.enc_var),
                                 (user.dec_mean_net, kit.dec_mean), (user.dec_var_net, kit.dec_var)):
                linears = [m for m in ours if isinstance(m, nn.Linear)]
                for mine, layer in zip(linears, theirs.layers):
                    mine.weight.copy_(layer.weight)
                    mine.bias.copy_(layer.bias)
        return user

    def encode(self, x):
        return self.mean_net(x), self.enc_link(self.var_net(x))

    def decode(self, z):
        return self.dec_mean_net(z), self.dec_link(self.dec_var_net(z))

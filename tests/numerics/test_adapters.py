"""numerics.adapters: the protocol a user's model keeps, and one-line errors when it does not."""
import re

import pytest
import torch
from torch import nn

from numerics.adapters import AdapterError, inspect_model
from numerics.cli import UsageError
from numerics.models import build_model
from tests.numerics.user_vaes import UserVAE, UserVAEWithPrior

x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("model, form, prior, formula", [
    (UserVAE(decoder_variance="net"), "z-dependent", False, "Eq. 39"),
    (UserVAE(decoder_variance="free"), "per-dimension", False, "Eq. 39 (constant sigma_d^2)"),
    (UserVAEWithPrior(decoder_variance="net"), "z-dependent", True, "Eqs. 20 + 39"),
    (build_model("vae1", 6, 2, hidden=(4,)), "scalar", False, "Eq. 25"),
    (build_model("vae2", 6, 2, hidden=(4,)), "scalar", True, "Eq. 20"),
])
def test_what_decode_returns_decides_the_formula(model, form, prior, formula):
    shape = inspect_model(model, x.to(next(model.parameters()).dtype))
    assert (shape.D, shape.H, shape.decoder_variance, shape.learned_prior, shape.entropy_formula) == (6, 2, form, prior,
                                                                                                        formula)


class Broken(UserVAE):
    def __init__(self, fault):
        super().__init__()
        self.fault = fault

    def encode(self, x):
        mean, var = super().encode(x)
        return {"single": mean, "neg": (mean, -var), "shape": (mean, var[:, :1, None])}.get(self.fault, (mean, var))

    def decode(self, z):
        mean, var = super().decode(z)
        return {"wide": (torch.cat([mean, mean], -1), var), "var7": (mean, torch.ones(7))}.get(self.fault, (mean, var))

    def prior_var(self):
        return torch.ones(3) if self.fault == "prior" else torch.ones(2)


@pytest.mark.parametrize("fault, message", [
    ("single", "encode(x) must return a pair of tensors"), ("neg", "encode(x)'s variance must be finite and > 0"),
    ("shape", "encode(x) must return a variance"), ("wide", "decode(z) must return a mean [..., D=6]"),
    ("var7", "it must be a scalar, [D] or"), ("prior", "prior_var() must return [H=2]")])
def test_protocol_violations_are_one_line_usage_errors(fault, message):
    with pytest.raises(AdapterError, match=re.escape(message)) as err:
        inspect_model(Broken(fault), x)
    assert isinstance(err.value, UsageError) and "\n" not in str(err.value)


def test_a_module_without_decode_is_named():
    class EncoderOnly(nn.Module):
        def encode(self, x):
            return x[:, :2], x[:, :2] ** 2 + 1

    with pytest.raises(AdapterError, match="EncoderOnly has no decode"):
        inspect_model(EncoderOnly(), x)

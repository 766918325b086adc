"""numerics: Gaussian VAEs of the paper, their ELBO, three-entropy value and gap residuals.

Practitioner's API (per data point):

    from numerics import build_model, evaluate, mc_design, three_entropies
    model = build_model("vae3", D=10, H=2)
    design = mc_design(100, len(x), 2, generator=torch.Generator().manual_seed(0))
    ev = evaluate(model, x, design)      # ev.elbo, ev.entropy_sum, ev.gap, residuals, identity_error
    S = three_entropies(model, x)        # the closed-form value the ELBO equals at convergence
    # numerics.soft_modes.soft_modes(model, x, design): slope and conditioning along each scaling orbit

Any nn.Module with encode(x) -> (mean, var), decode(z) -> (mean, var) and optionally prior_var() is a
Gaussian VAE to the kit (`numerics.adapters`, docs/interfaces.md "practitioners"):

    report = diagnose(my_vae, x_val)     # ELBO, S, gap residuals with advice, collapsed latents, covered
    print(report.text()); report.to_dict()
    monitor = Monitor(my_vae, x_val, every=100, log="diag.jsonl")   # call monitor() once per step
"""
from .adapters import AdapterError, ModelShape, inspect_model
from .data import DATA_NAMES, Dataset, load_data, mnist_idx, mnist_subset, ppca_data, ring_data
from .entropies import (entropy_sum_learned_prior, entropy_sum_linear, entropy_sum_vae1, entropy_sum_vae2,
                        entropy_sum_vae3, gaussian_entropy)
from .estimators import (Design, Evaluation, elbo_objective, evaluate, gauss_hermite_design, mc_design,
                         rqmc_design, sobol_design, three_entropies)
from .links import LINKS, get_link, inverse_link
from .models import MODEL_KINDS, VAE1, VAE2, VAE3, GaussianVAE, LinearVAE, build_model
from .ppca import linear_vae_at_ml, ppca_loglik, ppca_ml
from .diagnosis import Diagnosis, diagnose
from .monitor import Monitor

__all__ = [
    "LINKS", "get_link", "inverse_link",
    "MODEL_KINDS", "GaussianVAE", "LinearVAE", "VAE1", "VAE2", "VAE3", "build_model",
    "Design", "Evaluation", "mc_design", "gauss_hermite_design", "sobol_design", "rqmc_design", "evaluate", "elbo_objective",
    "gaussian_entropy", "entropy_sum_vae1", "entropy_sum_linear", "entropy_sum_vae2", "entropy_sum_vae3",
    "entropy_sum_learned_prior",
    "three_entropies",
    "DATA_NAMES", "Dataset", "load_data", "ppca_data", "ring_data", "mnist_subset", "mnist_idx",
    "ppca_ml", "ppca_loglik", "linear_vae_at_ml",
    "AdapterError", "ModelShape", "inspect_model", "Diagnosis", "diagnose", "Monitor",
]

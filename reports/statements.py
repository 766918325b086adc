"""What each claim states, in the paper's words and equations, for the report's claim sections.

``proofs`` reports each claim's title, hypotheses and steps but no separate statement; the report
prints the statement below (a claim result's own ``statement``/``latex`` keys take precedence, should
``proofs`` ever supply them). The equations are transcribed from the paper (numbers follow it) and
DESIGN.md (``gap``, ``criterion``); they are presentation only, never evidence.
"""

from __future__ import annotations

STATEMENTS: dict[str, tuple[str, str]] = {
    "prop1": ("VAE-2 (Eqs. 12-18): at every stationary point of the ELBO, F equals minus the prior entropy, "
              "minus the decoder entropy, plus the average encoder entropy (Eq. 20).",
              r"\mathcal{F} = -\frac{1}{2}\log\det(2\pi e A) - \frac{D}{2}\log(2\pi e\sigma^2)"
              r" + \frac{1}{N}\sum_{n=1}^{N}\frac{1}{2}\log\det(2\pi e \tilde{T}_\Phi(x^{(n)}))"),
    "prop2": ("VAE-1 (Eqs. 1-5): at every stationary point of the ELBO, F is the sum of three entropies (Eq. 25).",
              r"\mathcal{F} = -\frac{D}{2}\log(2\pi e\sigma^2)"
              r" + \frac{1}{2N}\sum_{n=1}^{N}\sum_{h=1}^{H}\log\tau_h^2(x^{(n)};\Phi)"),
    "cor1": ("Linear VAE (Eqs. 29-32): at every stationary point, F depends on the H + 1 variances only (Eq. 33).",
             r"\mathcal{F} = -\frac{D}{2}\log(2\pi e\sigma^2) + \frac{1}{2}\sum_{h=1}^{H}\log\tau_h^2"),
    "corA1": ("Linear VAE at the p-PCA maximum-likelihood solution: Eq. 44 equals the closed-form p-PCA "
              "log-likelihood Eq. 45, with C = W W^T + sigma^2 I and S the data covariance.",
              r"-\frac{D}{2}\log(2\pi e\sigma^2) + \frac{1}{2}\sum_h\log\tau_h^2"
              r" = -\frac{D}{2}\log(2\pi) - \frac{1}{2}\log\det C - \frac{1}{2}\mathrm{Tr}(C^{-1}S)"),
    "prop3": ("VAE-3 (Eqs. 34-38, decoder variances sigma_d^2(z) from a network): at every stationary point, "
              "Eq. 39 holds.",
              r"\mathcal{F} = \frac{1}{2N}\sum_{n=1}^{N}\sum_{h=1}^{H}\log\tau_h^2(x^{(n)})"
              r" - \frac{1}{2N}\sum_{n=1}^{N}\sum_{d=1}^{D}\mathrm{E}_{q^{(n)}}\{\log\sigma_d^2(z)\}"
              r" - \frac{D}{2}\log(2\pi e)"),
    "cor2": ("VAE-3 for N to infinity, at convergence: F is the expected log-volume covered by the encoder minus "
             "the expected log-volume covered by the decoder plus a constant (Eqs. 41-43), "
             "const = (D - H) log 2 - (D/2) log(2 pi e).",
             r"\mathcal{F} = \mathrm{E}_{p(x)}\{\log z\mathrm{Vol}(x)\} - \mathrm{E}_{\bar{q}(z)}\{\log "
             r"x\mathrm{Vol}(z)\} + (D-H)\log 2 - \frac{D}{2}\log(2\pi e)"),
    "gap": ("Beyond the paper (DESIGN.md): an exact identity at every parameter value, not only at convergence. "
            "For VAE-1, with S the three-entropy value (Eq. 25), the gap is a sum of residuals that vanish "
            "exactly at stationary points of the variance-scaling directions.",
            r"\mathcal{F} - S = \frac{D}{2}r_\sigma + \frac{1}{2}\sum_h r_h,\quad "
            r"r_\sigma = 1 - \frac{1}{ND\sigma^2}\sum_n \mathrm{E}_q\|x_n - \mu(z)\|^2,\quad "
            r"r_h = 1 - \frac{1}{N}\sum_n(\nu_h^2 + \tau_h^2)"),
    "criterion": ("Beyond the paper (DESIGN.md): which variance parametrisations satisfy the hypotheses. A network "
                  "output sigma^2 = f(a), a the affine last layer, is closed under the variance scalings iff f lies "
                  "in span{f'(a), a f'(a)}: exp, square, ReLU and linear outputs are; softplus and sigmoid are not.",
                  r"f(a) = C(\alpha a + \beta)^{1/\alpha}\quad\mathrm{or}\quad f(a) = C\exp(a/\beta)"),
    "errata": ("Equations of the paper whose printed form does not hold: each printed form is refuted by a "
               "counterexample and its corrected form is proved (Section 3).", ""),
}


def statement_of(claim: dict) -> tuple[str, str]:
    """(text, latex) stating ``claim``: its own keys if ``proofs`` gives them, else the table above."""
    text, latex = STATEMENTS.get(str(claim.get("name")), ("", ""))
    return str(claim.get("statement") or text), str(claim.get("latex") or latex)

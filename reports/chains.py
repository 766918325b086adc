"""A claim's derivation as the report shows it: a calc block read top to bottom.

`proofs` checks each claim as a chain from its definitions to the paper's equation (docs/interfaces.md,
"proofs"): ``start``, then steps whose ``expression`` is the chain's expression after the step, each
with its justification (a strategy, a hypothesis, a lemma or another claim) and the paper's equation
number. Here that becomes one line per step, ``= expression  (by ...)``, in plain text and in LaTeX,
plus the hypotheses the chain used (stationarity hypotheses with the equation SymPy derived from the
chain's own expression), the axioms it rests on and its lemmas (for the appendix). All text comes from
the checked expressions in the proofs' JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.equations import GREEK


@dataclass
class ChainLine:
    """One line of a calc block: relation ('' for the start, '=' after), expression, reason, status."""

    relation: str
    text: str
    latex: str
    reason: str = ""
    eq: str = ""
    status: str = "PROVED"


def chain_lines(claim: dict) -> list[ChainLine]:
    """The claim's chain: its start expression, then '= expression (by ...)' for every step."""
    lines = [ChainLine("", str(claim.get("start", "")), str(claim.get("start_latex") or ""))]
    for step in claim.get("steps", []) or []:
        lines.append(ChainLine("=", str(step.get("expression") or step.get("statement") or "").strip(),
                               str(step.get("expression_latex") or "").strip(), reason=str(step.get("justification") or ""),
                               eq=str(step.get("eq") or ""), status=str(step.get("status", ""))))
    return lines


def conclusion(claim: dict) -> tuple[str, str, str]:
    """(text, latex, equation number) of the paper's equation the chain must reach."""
    value = claim.get("conclusion")
    if isinstance(value, dict):
        return str(value.get("text", "")), str(value.get("latex", "")), str(value.get("eq", ""))
    return str(claim.get("statement") or ""), str(claim.get("latex") or ""), ""


def hypothesis_lines(claim: dict) -> list[tuple[str, str, str]]:
    """(key, sentence, LaTeX of the derived equation or '') for each hypothesis the claim used."""
    details = {h.get("key"): h for h in claim.get("hypothesis_details", []) or [] if isinstance(h, dict)}
    declared = claim.get("hypotheses") or {}
    out = []
    for key in claim.get("hypotheses_used", []) or list(declared):
        detail = details.get(key, {})
        sentence = str(detail.get("text") or declared.get(key, ""))
        latex = ""
        if detail.get("kind") == "stationarity" and detail.get("derivative_latex"):
            direction = str(detail.get("direction") or "").removeprefix("d/d").split(" ")[0]
            latex = rf"0 = \frac{{\partial F}}{{\partial {_latex_name(direction)}}} = {detail['derivative_latex']}" \
                if direction else rf"0 = {detail['derivative_latex']}"
        out.append((str(key), sentence, latex))
    return out


def _latex_name(direction: str) -> str:
    """A derivative's variable as the JSON names it ("sigma^2", "alpha^2[k]", "epsilon") in LaTeX."""
    name, _, index = direction.partition("[")
    base, _, power = name.partition("^")
    symbol = f"\\{base}" if base in GREEK else base
    return symbol + (f"^{{{power}}}" if power else "") + (f"_{{{index.rstrip(']')}}}" if index else "")


def derived_text(claim: dict, key: str) -> str:
    """'target = value' that a stationarity hypothesis determined ('' for a structural one)."""
    for detail in claim.get("hypothesis_details", []) or []:
        if detail.get("key") == key and detail.get("target"):
            return f"{detail['target']} = {detail['value']}".replace("**", "^")
    return ""


def axiom_lines(claim: dict) -> list[tuple[str, str, str]]:
    """(key, statement, citation) of every axiom the claim or its lemmas rest on."""
    seen: dict[str, tuple[str, str, str]] = {}
    for item in (claim, *lemmas_of(claim)):
        for axiom in item.get("axioms", []) or []:
            if isinstance(axiom, dict) and axiom.get("key") not in seen:
                seen[axiom["key"]] = (str(axiom["key"]), str(axiom.get("text", "")), str(axiom.get("citation", "")))
    return list(seen.values())


def lemmas_of(claim: dict) -> list[dict]:
    """The claim's lemmas and remarks, depth first (each with its own chain)."""
    return [item for lemma in claim.get("lemmas", []) or [] for item in (lemma, *lemmas_of(lemma))]


def step_count(claim: dict) -> tuple[int, int, int]:
    """(steps of the main chain, steps inside lemmas, number of lemmas)."""
    lemmas = lemmas_of(claim)
    return len(claim.get("steps", []) or []), sum(len(item.get("steps", []) or []) for item in lemmas), len(lemmas)

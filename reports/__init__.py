"""Markdown + PDF verification reports for "The ELBO of VAEs converges to a sum of three entropies".

``python -m reports.build [--out DIR] [--profile quick|full] [--runs DIR ...] [--proofs JSON] [--device ...]``
runs ``proofs`` and ``numerics`` through their public APIs (or reads finished results) and writes
``report.md``, ``report.pdf``, the figures and ``results.json`` into ``DIR``.

Modules, in data-flow order: ``rundirs`` (read run directories), ``profiles`` (what each profile
runs), ``collect`` (run or read everything into one ``ReportData``), ``verdicts`` (per-claim
verdicts, overall pass/fail), ``figures`` / ``latents`` (matplotlib figures), ``equations``
(LaTeX -> PNG via mathtext), ``statements`` (the claims' statements), ``content`` (text shared by
both documents), ``markdown`` and ``pdf`` (the renderers), ``provenance``, ``build`` (the CLI).
"""

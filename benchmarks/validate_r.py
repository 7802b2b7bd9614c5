"""Cross-check against R the tests whose only Python reference is statsmodels or our own code and that decide
a verdict: the linear mixed models (statsmodels MixedLM vs lme4::lmer, REML, and nlme::lme's
between-within degrees of freedom, with lmerTest's Satterthwaite df beside them) and the permutation designs
(the exact permutation across lineages of heritage_mixed, the permutation test of kleiber_depth_r).

Not a CI test: it installs Debian's R where missing (``apt-get install r-base-core r-cran-lme4
r-cran-lmertest r-cran-nlme``; needs root and the Debian mirror), runs the same analyses in R on the same
data, and prints a side-by-side table.

    python benchmarks/validate_r.py [--published data/published] [--measured data/measured] [--resamples 10000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.claims import CLAIMS, Settings
from analysis.claims.heritage import model_means
from analysis.sources import load_sources

R_PACKAGES = {"lme4": "r-cran-lme4", "lmerTest": "r-cran-lmertest", "nlme": "r-cran-nlme"}
# (claim, formula in R, the fixed-effect term compared); the data are the claim's own dataset.
MIXED = [
    ("kleiber_mixed", "gain ~ n_layers", "n_layers"),
    ("heritage_mixed_unadjusted", "gain ~ heritage", "heritageEleutherAI"),
    ("heritage_mixed_adjusted", "gain ~ heritage + n_layers + log_params", "heritageEleutherAI"),
]

R_SCRIPT = r"""
suppressMessages({library(lme4); library(lmerTest); library(nlme)})
args <- commandArgs(trailingOnly = TRUE)
jobs <- read.csv(args[1], stringsAsFactors = FALSE)
rows <- list()
for (i in seq_len(nrow(jobs))) {
  d <- read.csv(jobs$data[i])
  if ("other" %in% d$heritage) d$heritage <- relevel(factor(d$heritage), ref = "other")
  f <- as.formula(jobs$formula[i]); term <- jobs$term[i]
  fit <- lmerTest::lmer(update(f, . ~ . + (1 | model)), data = d, REML = TRUE)
  co <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  lme_fit <- nlme::lme(f, random = ~ 1 | model, data = d, method = "REML")
  tt <- summary(lme_fit)$tTable
  rows[[i]] <- data.frame(job = jobs$job[i], estimate = co[term, "Estimate"], se = co[term, "Std. Error"],
                          satterthwaite_df = co[term, "df"], satterthwaite_p = co[term, "Pr(>|t|)"],
                          nlme_estimate = tt[term, "Value"], nlme_df = tt[term, "DF"], nlme_p = tt[term, "p-value"],
                          group_var = vc$vcov[vc$grp == "model"], residual_var = vc$vcov[vc$grp == "Residual"])
}
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
perm <- read.csv(args[3], stringsAsFactors = FALSE)
out <- list()
for (job in unique(perm$job)) {
  p <- perm[perm$job == job, ]
  if (p$kind[1] == "groups") {  # exact: every choice of the first group's units, one-sided (first group lower)
    observed <- mean(p$value[p$group == 1]) - mean(p$value[p$group == 0])
    choices <- combn(nrow(p), sum(p$group == 1))
    null <- apply(choices, 2, function(idx) mean(p$value[idx]) - mean(p$value[-idx]))
    out[[job]] <- data.frame(job = job, statistic = observed, p = mean(null <= observed + 1e-12), n = ncol(choices))
  } else {  # exact: every ordering of y against x, two-sided
    perms <- function(v) if (length(v) <= 1) list(v) else do.call(c, lapply(seq_along(v), function(k)
      lapply(perms(v[-k]), function(rest) c(v[k], rest))))
    observed <- cor(p$x, p$y)
    null <- vapply(perms(seq_len(nrow(p))), function(o) cor(p$x, p$y[o]), numeric(1))
    out[[job]] <- data.frame(job = job, statistic = observed, p = mean(abs(null) >= abs(observed) - 1e-12),
                             n = length(null))
  }
}
write.csv(do.call(rbind, out), args[4], row.names = FALSE)
"""


def ensure_r() -> None:
    """Install Debian's R and the packages where missing (apt-get, as root)."""
    have = (
        shutil.which("Rscript")
        and subprocess.run(
            ["Rscript", "-e", f"suppressMessages({{{'; '.join(f'library({p})' for p in R_PACKAGES)}}})"],
            capture_output=True,
        ).returncode
        == 0
    )
    if have:
        return
    print("installing R from Debian: r-base-core " + " ".join(R_PACKAGES.values()), flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "r-base-core", *R_PACKAGES.values()], check=True
    )


def r_version() -> str:
    names = ", ".join(f"'{p}'" for p in R_PACKAGES)
    code = (
        f"p <- c({names}); cat(R.version.string, paste0(p, ' ', sapply(p, function(x) "
        "as.character(packageVersion(x))), collapse = ', '), sep = '; ')"
    )
    return subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published", type=Path, default=Path("data/published"))
    parser.add_argument("--measured", type=Path, default=Path("data/measured"))
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    ensure_r()
    settings = Settings(n_resamples=args.resamples)
    sources = load_sources(args.measured, args.published)
    work = Path(tempfile.mkdtemp(prefix="validate-r-"))
    jobs, ours, perm_rows, perm_ours = [], {}, [], {}
    for name in ("published", "controls"):
        src = sources[name]
        if not src.available:
            continue
        for claim_id, formula, term in MIXED:
            claim = CLAIMS[claim_id]
            try:
                data = claim.data(src)
            except Exception as why:  # noqa: BLE001 - a source without the data is reported, not fatal
                print(f"skip {claim_id} on {name}: {why}")
                continue
            outcome = claim.run(src, settings)
            if claim_id == "heritage_mixed_adjusted" and "n_layers" not in (outcome.formula or ""):
                formula = "gain ~ heritage"  # the covariates the claim left out, left out in R too
            job = f"{claim_id}/{name}"
            path = work / f"{claim_id}-{name}.csv"
            data.frame[["model", "gain", "heritage", "n_layers", "log_params"]].to_csv(path, index=False)
            jobs.append({"job": job, "data": str(path), "formula": formula, "term": term})
            ours[job] = outcome
        heritage = CLAIMS["heritage_mixed"]
        try:
            data = heritage.data(src)
            models = model_means(data.frame)
            lineages = models.groupby("lineage", as_index=False).agg(
                gain=("gain", "mean"), heritage=("heritage", "first")
            )
            job = f"heritage_mixed/{name}"
            perm_rows += [
                {
                    "job": job,
                    "kind": "groups",
                    "value": r.gain,
                    "group": int(r.heritage == "EleutherAI"),
                    "x": np.nan,
                    "y": np.nan,
                }
                for r in lineages.itertuples()
            ]
            perm_ours[job] = heritage.run(src, settings)
        except Exception as why:  # noqa: BLE001
            print(f"skip heritage_mixed on {name}: {why}")
        depth = CLAIMS["kleiber_depth_r"]
        try:
            data = depth.data(src)
            if len(data.frame) <= 8:  # exact enumeration in R: n! orderings
                job = f"kleiber_depth_r/{name}"
                perm_rows += [
                    {"job": job, "kind": "correlation", "value": np.nan, "group": np.nan, "x": r.n_layers, "y": r.gain}
                    for r in data.frame.itertuples()
                ]
                perm_ours[job] = depth.run(src, settings)
        except Exception as why:  # noqa: BLE001
            print(f"skip kleiber_depth_r on {name}: {why}")
    pd.DataFrame(jobs).to_csv(work / "jobs.csv", index=False)
    pd.DataFrame(perm_rows).to_csv(work / "perm.csv", index=False)
    (work / "check.R").write_text(R_SCRIPT)
    subprocess.run(
        [
            "Rscript",
            str(work / "check.R"),
            str(work / "jobs.csv"),
            str(work / "mixed.csv"),
            str(work / "perm.csv"),
            str(work / "perm_out.csv"),
        ],
        check=True,
    )
    mixed = pd.read_csv(work / "mixed.csv").set_index("job")
    perms = pd.read_csv(work / "perm_out.csv").set_index("job")
    print(f"R: {r_version()}")
    print(f"Python: statsmodels MixedLM (REML), our permutation tests ({args.resamples} resamples)\n")
    rows = []
    for job, outcome in ours.items():
        r = mixed.loc[job]
        rows += [
            (job, "estimate", outcome.value, r["estimate"]),
            (job, "df: ours = nlme between-within", _df(outcome), r["nlme_df"]),
            (job, "p: ours (t, between-within df) vs nlme::lme", outcome.p_value, r["nlme_p"]),
            (job, "p: lmerTest Satterthwaite (df)", np.nan, r["satterthwaite_p"]),
            (job, "Satterthwaite df", np.nan, r["satterthwaite_df"]),
            (job, "estimate: nlme::lme", outcome.value, r["nlme_estimate"]),
            (job, "random-intercept variance", _variance(outcome, "random-intercept variance"), r["group_var"]),
            (job, "residual variance", _variance(outcome, "residual"), r["residual_var"]),
        ]
    for job, outcome in perm_ours.items():
        r = perms.loc[job]
        rows += [
            (job, "statistic", outcome.value, r["statistic"]),
            (job, f"p (R exact over {int(r['n'])} relabellings)", outcome.p_value, r["p"]),
        ]
    table = pd.DataFrame(rows, columns=["claim/source", "quantity", "python", "R"])
    table["abs diff"] = (table["python"] - table["R"]).abs()
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.float_format", "{:.6g}".format):
        print(table.to_string(index=False))
    shutil.rmtree(work)


def _variance(outcome, label: str) -> float:
    """A variance component our row states in its note ("random-intercept variance 0.158, residual 0.0262")."""
    match = re.search(rf"{label} ([-0-9.e+]+)", outcome.note)
    return float(match.group(1).rstrip(",")) if match else np.nan


def _df(outcome) -> float:
    """The df our mixed-model row used, read from its test text ("... on 6 df ...")."""
    words = outcome.test.split()
    return float(words[words.index("df") - 1]) if "df" in words else np.nan


if __name__ == "__main__":
    sys.exit(main())

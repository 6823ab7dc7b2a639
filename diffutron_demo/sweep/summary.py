"""summary.csv: one row per setting, the mean of each run figure with a 95% t-interval.

The interval is Student's t on the per-run values (yes/no figures as 0/1): mean ± t(0.975, n-1)·s/√n,
clipped to what the figure can be (no figure is negative; shares stay within 0..1, chrF within 0..100).
Runs marked too long have no figures and are only counted. `blank_exact` is an infill run's figure
(rows from before it existed, and generation rows, lack it): a setting with no such row has empty cells.
"""

from __future__ import annotations

import csv
import io
import math

FIGURES = ("gen_tokens", "nfe", "tokens_per_forward", "model_ms", "wall_ms", "mean_conf", "closed",
           "repeated_3grams", "agreement", "exact_match", "chrf", "blank_exact")
UPPER = {"mean_conf": 1.0, "closed": 1.0, "agreement": 1.0, "exact_match": 1.0, "chrf": 100.0, "blank_exact": 1.0}
TIMING = {"model_ms", "wall_ms"}  # differ between two runs of the same sweep
COLUMNS = ("setting", "runs", "too_long") + tuple(f"{f}_{part}" for f in FIGURES for part in ("mean", "low", "high")) \
    + ("total_model_s", "tokens_per_s")
TIMING_COLUMNS = {c for c in COLUMNS if c.rsplit("_", 1)[0] in TIMING} | {"total_model_s", "tokens_per_s"}


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (p > 0.5) by bisection on the CDF."""
    lo, hi = 0.0, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def t_cdf(t: float, df: int) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1 - tail if t >= 0 else tail


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b) (Numerical Recipes' continued fraction)."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    if x > (a + 1) / (a + b + 2):
        return 1 - _betainc(b, a, 1 - x)
    tiny, c, d = 1e-300, 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * f / a


def interval(values: list[float], upper: float = math.inf) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high), the interval clipped to 0..upper; no interval from fewer than two values."""
    if not values:
        return None, None, None
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return mean, max(mean - half, 0.0), min(mean + half, upper)


def summarize(rows: list[dict], settings: list[str]) -> list[dict]:
    """One summary row per setting (in grid order) from runs.jsonl's rows."""
    out = []
    for name in settings:
        mine = [r for r in rows if r["setting"] == name]
        ok = [r for r in mine if r["status"] == "ok"]
        row = {"setting": name, "runs": len(ok), "too_long": len(mine) - len(ok)}
        for fig in FIGURES:
            values = [float(r[fig]) for r in ok if r.get(fig) is not None]
            row.update(zip((f"{fig}_mean", f"{fig}_low", f"{fig}_high"), interval(values, UPPER.get(fig, math.inf))))
        model_s = sum(r["model_ms"] for r in ok) / 1000
        row["total_model_s"] = model_s
        row["tokens_per_s"] = sum(r["gen_tokens"] for r in ok) / model_s if model_s > 0 else None
        out.append(row)
    return out


def to_csv(summary: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in summary:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    return buf.getvalue()


def _cell(value):
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else value


def from_csv(text: str) -> list[dict]:
    """summary.csv back into rows (numbers as floats, empty cells as None); raises ValueError."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "setting" not in reader.fieldnames:
        raise ValueError("not a sweep summary.csv (no 'setting' column)")
    rows = []
    for raw in reader:
        row = {"setting": raw["setting"]}
        for k in COLUMNS[1:]:
            cell = (raw.get(k) or "").strip()
            row[k] = float(cell) if cell else None
        rows.append(row)
    return rows

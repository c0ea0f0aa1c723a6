"""metrics.csv rows made up for the doctor's tests: each column a function of the step."""


def rows(steps, **cols):
    """metrics.csv-like rows: every column a function of the step (or a constant)."""
    out = []
    for s in steps:
        row = {"step": s, "d_loss": 1.3, "g_loss": 0.7, "d_real": 0.5, "d_fake": 0.5,
               "g_grad_norm": 1.0}  # fmt: skip
        row.update({k: (v(s) if callable(v) else v) for k, v in cols.items()})
        out.append(row)
    return out

"""The Doctor: the detectors of curves.py and samples.py run over a run's rows and sample checks,
each kind reported once, at the first step it held.

During training the monitor feeds it every metrics.csv row and, at each sample figure, the
checks of G's samples (`Doctor.check_samples`); `ganlab doctor` feeds it a finished run's files
the same way (ganlab.runs.diagnosis). Reading a row costs a list append; the detectors rerun
over the rows each time their count grows by 2%, so a run of R rows pays O(50 R) in total.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganlab.config import Config
from ganlab.doctor import curves, samples
from ganlab.doctor.curves import GameFacts, columns
from ganlab.doctor.findings import KINDS, Finding, advice_divergence
from ganlab.metrics.coverage import mode_coverage
from ganlab.training.algorithm import loss_functions

__all__ = ["Doctor", "GameFacts", "game_facts"]

END_KINDS = ("unfinished", "poor_fit")  # judged at the run's end, where nothing else says why
TRAIN_REFERENCE = 20_000  # training examples a memorisation check compares against (cost)


def game_facts(cfg: Config) -> GameFacts:
    """The facts the detectors need, from the config's objective (D's loss probed on constants).

    chance: min_c L_D(c, c), D's loss when it outputs one value everywhere;
    floor: min over (r, f) of L_D(r, f) on [-30, 30]^2 by two rounds of coordinate search,
    None when it still falls at the grid's edge (Wasserstein, f-GANs: unbounded below).
    """
    game = loss_functions(cfg)
    d_loss = game.d_loss
    grid = torch.linspace(-30.0, 30.0, 241, dtype=torch.float64)

    def loss(r: float, f: float) -> float:
        return float(
            d_loss(torch.tensor([r], dtype=torch.float64), torch.tensor([f], dtype=torch.float64))
        )

    chance = min(loss(c, c) for c in grid[80:161].tolist())  # constants in [-10, 10]
    r, f = 0.0, 0.0
    for _ in range(2):
        f = min(grid.tolist(), key=lambda v: loss(r, v))
        r = min(grid.tolist(), key=lambda v: loss(v, f))
    floor = loss(r, f)
    unbounded = abs(r) >= 30.0 and floor < chance - 20.0
    return GameFacts(
        objective=cfg.objective,
        output=game.output,
        real_target=1.0 - cfg.label_smoothing,
        chance_loss=chance,
        floor_loss=None if unbounded else floor,
        steps=cfg.steps,
    )


class Doctor:
    """Findings of one run, from its rows and sample checks as they come.

    Args:
        cfg: the run's config (its objective and learning rates shape the advice).
        facts: the game's facts; computed from cfg when not given.
    """

    def __init__(self, cfg: Config, facts: GameFacts | None = None):
        self.cfg = cfg
        self.facts = facts or game_facts(cfg)
        self.rows: list[dict] = []
        self.coverage: list[dict] = []  # step, modes_covered, modes, high_quality
        self.spread: list[dict] = []  # step, spread
        self.memory: list[dict] = []  # step, ratio, sample_to_train, unseen_to_train
        self.fit: list[dict] = []  # step, precision, recall (k-NN, against the data)
        self.found: dict[str, Finding] = {}
        self._next_check = curves.SUSTAIN_ROWS
        self._unseen: dict = {}  # the training reference and its leave-one-out distances

    @property
    def findings(self) -> list[Finding]:
        """Every finding so far, by step (then by the order of KINDS)."""
        return sorted(self.found.values(), key=lambda f: (f.step, KINDS.index(f.kind)))

    def _new(self, candidates) -> list[Finding]:
        new = []
        for finding in candidates:
            if finding is not None and finding.kind not in self.found:
                self.found[finding.kind] = finding
                new.append(finding)
        return new

    def observe_row(self, row: dict) -> list[Finding]:
        """A metrics.csv row (step, d_loss, g_loss, d_real, d_fake, g_grad_norm, ...); returns
        the findings it completed."""
        self.rows.append(row)
        if len(self.rows) < self._next_check:
            return []
        self._next_check = len(self.rows) + max(1, len(self.rows) // 50)
        return self.curve_findings()

    def curve_findings(self) -> list[Finding]:
        """Rerun the curve detectors over every row so far; the new findings."""
        c = columns(self.rows)
        if not c:
            return []
        # For the minimax loss a winning D *is* saturation (G's push is D(G(z)) itself).
        found = [
            curves.nonfinite(c, self.facts, self.cfg),
            curves.saturation(c, self.facts, self.cfg),
        ]
        if self.facts.objective != "minimax":
            found.append(curves.overpowers(c, self.facts, self.cfg))
        found.append(curves.oscillation(c, self.facts, self.cfg))
        return self._new(found)

    def observe_divergence(self, step: int, what: str) -> list[Finding]:
        """The monitor's NaN/inf check fired at `step` on `what` (e.g. "the generator's loss")."""
        evidence = {"where": what, "value": "nan or inf"}
        return self._new([Finding("divergence", step, evidence, advice_divergence(self.cfg, what))])

    @torch.no_grad()
    def check_samples(
        self,
        step: int,
        fake: Tensor,
        real: Tensor,
        distribution=None,
        coverage: dict | None = None,
        train: Tensor | None = None,
        heldout: Tensor | None = None,
    ) -> list[Finding]:
        """Checks of G's samples at `step`; returns the findings they completed.

        Args:
            fake: (n, *x_shape) samples of G (n = samples.SAMPLES is enough).
            real: (n, *x_shape) data examples, for the spread's yardstick.
            distribution: the toy mixture the data comes from, if any: modes covered.
            coverage: modes covered already measured at this step (coverage.csv's row).
            train: the finite training set, if there is one: memorisation.
            heldout: unseen examples of the same law (else leave-one-out within `train`).
        """
        fake, real = fake.detach().float().cpu(), real.float().cpu()
        if coverage is None and distribution is not None and distribution.centres.shape[0] > 1:
            coverage = mode_coverage(fake, distribution.centres, float(distribution.stds[0]))
        if coverage is not None:
            self.coverage.append({"step": step, **coverage})
        spread = samples.spread_ratio(fake, real)
        floor = samples.spread_floor(tuple(fake.shape[1:]))
        self.spread.append({"step": step, "spread": spread, "floor": floor})
        self.fit.append({"step": step, **samples.fit_scores(fake, real)})
        if train is not None:
            self.memory.append({"step": step, **self._memorisation(fake, train, heldout)})
        return self.sample_findings()

    def _memorisation(self, fake: Tensor, train: Tensor, heldout: Tensor | None) -> dict:
        if "reference" not in self._unseen:  # the training set does not change: once a run
            reference = train.cpu()
            if len(reference) > TRAIN_REFERENCE:
                g = torch.Generator().manual_seed(0)
                reference = reference[torch.randperm(len(reference), generator=g)[:TRAIN_REFERENCE]]
            self._unseen["reference"] = reference
            self._unseen["distance"] = samples.unseen_distance(reference, heldout)
        return samples.memorisation_ratio(fake, self._unseen["reference"], self._unseen["distance"])

    def explained(self) -> set[str]:
        """The kinds found that say why a run went wrong, which unfinished and poor_fit (a run
        judged only by where its samples ended) then do not speak for."""
        return {k for k in self.found if k not in END_KINDS}

    def sample_findings(self) -> list[Finding]:
        """Rerun the sample detectors over every check so far; the new findings."""
        if self.coverage:
            collapse = samples.coverage_collapse(self.coverage, self.facts, self.cfg)
            if collapse is None:  # samples on no mode at all: their spread alone can tell
                off = samples.off_the_modes(self.spread, self.coverage)
                collapse = samples.spread_collapse(off, self.facts, self.cfg)
        else:
            collapse = samples.spread_collapse(self.spread, self.facts, self.cfg)
        starving = self.found.get("g_saturation")
        if collapse is not None and starving is not None and starving.step <= collapse.step:
            collapse = None  # a G without gradient stays where it is: saturation's symptom
        memorised = samples.memorised(self.memory, self.facts, self.cfg)
        unfinished = samples.unfinished(self.fit, self.facts, self.cfg)
        explained = self.explained()
        if collapse is not None or memorised is not None or explained:
            # more steps are not the cure for those: a G starved of gradient (g_saturation,
            # d_overpowers) creeps on for as long as it trains, and "train on" hides the cause
            unfinished = None
        poor = samples.poor_fit(self.fit, self.facts, self.cfg)
        if poor is not None and (collapse or memorised or explained):
            poor = None  # the finding that says why the samples are off speaks for them
        if poor is not None:
            unfinished = None  # its advice says to train longer among its options
        return self._new([collapse, memorised, unfinished, poor])

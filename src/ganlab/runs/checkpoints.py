"""The checkpoints/ folder of a run: its files, their manifest, keep-last-K, and the files that
fail their check, set aside and never deleted.

    checkpoints/step-00002000.safetensors   one TrainState (ganlab.runs.checkpoint_file)
    checkpoints/manifest.json               {"checkpoints": [{"file", "step", "sha256"}, ...]},
                                            oldest first
    checkpoints/corrupt/                    files moved aside (step-N.safetensors, then
                                            step-N-2.safetensors, ... for another of step N)

A checkpoint *verifies* when its file reads back, matches the SHA-256 the manifest lists for it
and parses (the parse alone when a manifest rebuilt from the file names lists no checksum).
Issue 21: a run that goes on from a checkpoint (resume, rollback) moves every newer one aside -
they failed their check, or a run stopped before listing them - so none of them counts as the
newest or as one of the K again, and the later steps never write over them; keep-last-K counts
only checkpoints that verify, and the one just written is always kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from ganlab.errors import CheckpointError
from ganlab.files import atomic_write_bytes
from ganlab.runs.checkpoint_file import checkpoint_bytes, parse_checkpoint
from ganlab.training.state import TrainState

_NAME = re.compile(r"^step-(\d+)\.safetensors$")


@dataclass
class Newest:
    """The newest checkpoint of a run that verifies, and the newer ones passed over to find it.

    Attributes:
        path: its file.  tensors, header: what it holds.  step: its step (the header's).
        passed_over: (manifest entry, what is wrong with its file) of each newer checkpoint,
            newest first.
    """

    path: Path
    tensors: dict[str, Tensor]
    header: dict[str, str]
    step: int
    passed_over: list[tuple[dict, str]]


class CheckpointStore:
    """The checkpoints of one run: step-XXXXXXXX.safetensors files and a manifest of checksums.

    Args:
        folder: the run's checkpoints/ directory.
        keep: how many checkpoints that verify to keep on disk, the newest.
    """

    def __init__(self, folder: Path, keep: int = 3):
        self.folder, self.keep = Path(folder), keep
        self.manifest_path = self.folder / "manifest.json"
        self.corrupt = self.folder / "corrupt"

    def entries(self) -> list[dict]:
        """Manifest entries, oldest first; falls back to the file names if there is no manifest."""
        if self.manifest_path.exists():
            try:
                rows = json.loads(self.manifest_path.read_text())["checkpoints"]
                # Only step-N files inside this folder: a crafted manifest must not make us
                # read, move or (in save) delete a file elsewhere.
                if all(isinstance(r, dict) and _NAME.match(str(r["file"])) for r in rows):
                    return rows
            except (OSError, ValueError, KeyError, TypeError):
                pass
            warnings.warn(f"{self.manifest_path} is unreadable; using file names", stacklevel=2)
        return sorted(
            ({"file": p.name, "step": step, "sha256": None} for p, step in self._files()),
            key=lambda r: r["step"],
        )

    def _files(self) -> list[tuple[Path, int]]:
        """(path, step) of every step-N file in the folder, listed or not."""
        return [
            (p, int(m[1]))
            for p in self.folder.glob("step-*.safetensors")
            if (m := _NAME.match(p.name))
        ]

    # -----------------------------------------------------------------------------------------
    # Writing

    def save(
        self,
        state: TrainState,
        extra_tensors: dict[str, Tensor] | None = None,
        extra_header: dict[str, str] | None = None,
    ) -> Path:
        """Write the state as a new checkpoint, then keep it and the newest `keep` - 1 older
        checkpoints that verify.

        An older one that fails its check moves to checkpoints/corrupt/ (a warning line each)
        and an intact one beyond the K is deleted. A file already at the new one's name (a run
        stopped between writing and listing it) moves aside first: nothing is written over.
        extra_tensors, extra_header: more entries beside the state's (other ranks' RNGs).
        """
        data = checkpoint_bytes(state, extra_tensors, extra_header)
        path = self.folder / f"step-{state.step:08d}.safetensors"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for stale in self.folder.glob(".*.tmp"):  # left by a process killed mid-write
                stale.unlink(missing_ok=True)
            entries = self.entries()
            if path.exists():
                target = self._move_aside(path)
                warnings.warn(
                    f"checkpoint {path} was already there, written by a run that stopped or "
                    f"went back before it; moved to {target} before writing step {state.step}",
                    stacklevel=2,
                )
            atomic_write_bytes(path, data)
            older = [e for e in entries if int(e["step"]) < state.step]
            kept, dropped, bad = self._verified_newest(older, self.keep - 1)
            kept.append(
                {"file": path.name, "step": state.step, "sha256": hashlib.sha256(data).hexdigest()}
            )
            bad += [
                (
                    e,
                    f"checkpoint {self.folder / e['file']} is newer than step {state.step}, "
                    "which the run goes on from",
                )
                for e in entries
                if int(e["step"]) > state.step
            ]
            for entry, problem in bad:
                target = self._move_aside(self.folder / entry["file"])
                where = f"moved to {target}" if target else "left the manifest"
                warnings.warn(f"{problem}; {where}, and not counted as kept", stacklevel=2)
            self._write_manifest(kept)
        except OSError as e:
            raise CheckpointError(
                f"cannot write checkpoint {path} ({e.strerror}); free disk space or fix the "
                "folder's permissions, then resume: the previous checkpoint is intact"
            ) from None
        for entry in dropped:
            (self.folder / entry["file"]).unlink(missing_ok=True)
        # Files a killed process listed and never deleted: an unlisted one older than the new
        # one is beyond the K (newer ones were moved aside when the run went on).
        listed = {e["file"] for e in kept}
        for p, step in self._files():
            if p.name not in listed and step < state.step:
                p.unlink(missing_ok=True)
        return path

    def _verified_newest(self, entries: list[dict], n: int) -> tuple[list, list, list]:
        """(the newest n entries whose files verify, oldest first; the older ones that verify,
        to delete; (entry, problem) of each that fails its check, to set aside).

        Keep-last-K counts only checkpoints that verify: a corrupt or missing one never takes
        the place of an intact older one, which is then kept instead of deleted.
        """
        kept: list[dict] = []
        dropped: list[dict] = []
        bad: list[tuple[dict, str]] = []
        for entry in reversed(entries):
            problem = self._check(entry)
            if problem is not None:
                bad.append((entry, problem))
            elif len(kept) < n:
                kept.append(entry)
            else:
                dropped.append(entry)
        return kept[::-1], dropped, bad

    def _check(self, entry: dict) -> str | None:
        """What is wrong with an entry's file, or None when it verifies. An entry listed without
        a checksum (a manifest rebuilt from the file names) gets one once its file parses."""
        path = self.folder / entry["file"]
        try:
            data = path.read_bytes()
        except OSError:
            return f"checkpoint {path} listed in the manifest is missing or unreadable"
        digest = hashlib.sha256(data).hexdigest()
        if entry.get("sha256"):
            if digest == entry["sha256"]:
                return None
            return f"checkpoint {path} is corrupt (SHA-256 differs from the manifest)"
        try:
            parse_checkpoint(data, path)
        except CheckpointError as e:
            return str(e)
        entry["sha256"] = digest
        return None

    def _write_manifest(self, entries: list[dict]) -> None:
        atomic_write_bytes(
            self.manifest_path, json.dumps({"checkpoints": entries}, indent=1).encode()
        )

    def _move_aside(self, source: Path) -> Path | None:
        """Move a checkpoint file into checkpoints/corrupt/ under a name no file there has
        (never deleted: a user may still want to look at it). Returns where it went, or None
        when there was no file to move."""
        if not source.exists():
            return None
        self.corrupt.mkdir(exist_ok=True)
        target, i = self.corrupt / source.name, 2
        while target.exists():  # a second file of the same step keeps the first
            target, i = self.corrupt / f"{source.stem}-{i}{source.suffix}", i + 1
        os.replace(source, target)
        return target

    def go_on_from(self, newest: Newest) -> list[Path]:
        """A run goes on from `newest` (resume, rollback): every checkpoint newer than it - the
        listed ones it passed over, and any unlisted file of a later step - moves to
        checkpoints/corrupt/ and leaves the manifest, one warning line each.

        Returns:
            Where the files went.
        """
        entries = self.entries()
        names = [e["file"] for e in entries]
        cut = names.index(newest.path.name) + 1 if newest.path.name in names else len(entries)
        problems = {entry["file"]: problem for entry, problem in newest.passed_over}
        newer = [(int(e["step"]), e["file"]) for e in entries[cut:]]
        newer += [(s, p.name) for p, s in self._files() if s > newest.step and p.name not in names]
        newer = [name for _, name in sorted(newer, reverse=True)]  # newest first, as warned
        moved = []
        for name in newer:
            target = self._move_aside(self.folder / name)
            problem = problems.get(name) or (
                f"checkpoint {self.folder / name} is newer than the one the run goes on from"
                + ("" if name in names else " and not in the manifest (a run stopped saving it)")
            )
            where = f" (moved to {target})" if target else ""
            warnings.warn(f"{problem}; using {newest.path.name} instead{where}", stacklevel=2)
            moved += [target] if target else []
        if cut < len(entries):
            self._write_manifest(entries[:cut])
        return moved

    # -----------------------------------------------------------------------------------------
    # Reading

    def load(self, step: int) -> tuple[Path, dict[str, Tensor], dict[str, str]]:
        """The checkpoint saved at `step`, checked against its manifest checksum.

        Raises:
            CheckpointError: no checkpoint of that step is kept, or it is corrupt.
        """
        entries = self.entries()
        match = [e for e in entries if int(e["step"]) == step]
        if not match:
            kept = ", ".join(str(e["step"]) for e in entries) or "none"
            raise CheckpointError(
                f"no checkpoint of step {step} in {self.folder} (kept steps: {kept}); pick one "
                "of those or leave out the step for the latest"
            )
        path = self.folder / match[0]["file"]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise CheckpointError(f"cannot read checkpoint {path} ({e.strerror})") from None
        if match[0].get("sha256") and hashlib.sha256(data).hexdigest() != match[0]["sha256"]:
            raise CheckpointError(
                f"checkpoint {path} is corrupt (SHA-256 differs from the manifest); pick "
                "another step"
            )
        return (path, *parse_checkpoint(data, path))

    def newest_intact(self) -> Newest:
        """The newest checkpoint that verifies, read; nothing is moved or warned about.

        Raises:
            CheckpointError: there is no checkpoint, or none verifies.
        """
        entries = self.entries()
        if not entries:
            raise CheckpointError(
                f"no checkpoint in {self.folder}; the run saved none yet: start it again with "
                "`ganlab train ... --overwrite`"
            )
        passed_over: list[tuple[dict, str]] = []
        for entry in reversed(entries):
            path = self.folder / entry["file"]
            try:
                data = path.read_bytes()
            except OSError:
                passed_over.append((entry, f"checkpoint {path} listed in the manifest is missing"))
                continue
            if entry.get("sha256") and hashlib.sha256(data).hexdigest() != entry["sha256"]:
                problem = f"checkpoint {path} is corrupt (SHA-256 differs from the manifest)"
                passed_over.append((entry, problem))
                continue
            try:
                tensors, header = parse_checkpoint(data, path)
                step = int(header.get("step", entry["step"]))
            except CheckpointError as e:
                passed_over.append((entry, str(e)))
                continue
            except ValueError:
                problem = f"checkpoint {path} has a malformed header (step {header['step']!r})"
                passed_over.append((entry, problem))
                continue
            return Newest(path, tensors, header, step, passed_over)
        raise CheckpointError(
            f"no intact checkpoint in {self.folder} (newest problem: {passed_over[0][1]}); "
            "start a new run with `ganlab train ... --overwrite`"
        )

    def warn_passed_over(self, newest: Newest) -> None:
        """One warning line for each newer checkpoint that `newest` was found past."""
        for _, problem in newest.passed_over:
            warnings.warn(f"{problem}; using {newest.path.name} instead", stacklevel=2)

    def load_latest(
        self, set_aside: bool = False
    ) -> tuple[Path, dict[str, Tensor], dict[str, str]]:
        """The newest checkpoint that verifies, with a warning line for each newer one that
        fails.

        set_aside: the run goes on from here (a rollback): the newer files move to
            checkpoints/corrupt/ and leave the manifest (go_on_from).
        Raises:
            CheckpointError: there is no checkpoint, or none verifies.
        """
        newest = self.newest_intact()
        if set_aside:
            self.go_on_from(newest)
        else:
            self.warn_passed_over(newest)
        return newest.path, newest.tensors, newest.header

"""The video evaluation protocol: temporal smoothing and the full metrics dictionary
(docs/method.md, "Video protocol").

Order of operations (AI-VAD / MULDE object-centric protocol): the method (`mulde.vad`) turns
object scores into calibrated, fused frame scores; `compute_metrics` smooths each test video
with `smooth` and reports smoothed and unsmoothed metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter1d
from scipy.stats import rankdata

from mulde.evaluation.metrics import (
    EvaluationError,
    MacroAUC,
    average_precision,
    check_scores,
    equal_error_rate,
    macro_auc,
    micro_auc,
    single_class_videos,
)

SMOOTHING_MODES = ("reflect", "nearest", "mirror", "constant", "wrap")
INVERSION_MARGIN = 0.05
"""How far below chance (0.5) the micro AUC must be for `compute_metrics` to warn that the
scores look inverted (see there)."""


PUBLISHED_SMOOTHING_SIGMA: Mapping[str, float] = MappingProxyType(
    {"ucsd_ped2": 3.0, "avenue": 3.0, "shanghaitech": 7.0, "ucf_crime": 0.0})
"""The smoothing sigma (frames) of the published protocol, per dataset (0: unsmoothed), whose
source `PUBLISHED_BY` names: for Ped2, Avenue and ShanghaiTech AI-VAD's, which the MULDE
paper follows (docs/method.md, "Temporal smoothing"); for UCF-Crime its own benchmark's,
Sultani et al. 2018, whose frame-level AUC (as that of the weakly supervised works after
it) is computed on unsmoothed scores. The other datasets (UCSD Ped1, UBnormal, a folder)
have no published protocol here: their default sigma is this project's choice."""
PUBLISHED_BY: Mapping[str, str] = MappingProxyType(
    {"ucsd_ped2": "AI-VAD", "avenue": "AI-VAD", "shanghaitech": "AI-VAD",
     "ucf_crime": "Sultani et al. 2018"})
"""Whose published protocol `PUBLISHED_SMOOTHING_SIGMA` holds, per dataset."""
REPORTED_UNSMOOTHED = frozenset({"ucf_crime"})
"""Datasets whose frame-level AUC the literature reports on unsmoothed scores: there the
unsmoothed numbers are the ones to compare with published ones (`compute_metrics` notes it
when another sigma is given)."""


MAX_SMOOTHING_SIGMA = 250_000.0
"""The largest smoothing sigma taken, in frames (almost 3 hours at 25 frames/s): the kernel
is 8 sigma + 1 frames long, so a sigma of 1e9 asked numpy for 60 GiB; beyond any video's
length the smoothed scores are flat anyway."""


def _check_smoothing(sigma: float, mode: str, truncate: float) -> None:
    if not np.isfinite(sigma) or sigma < 0:
        raise EvaluationError(f"smoothing sigma must be finite and >= 0, got {sigma}")
    if sigma > MAX_SMOOTHING_SIGMA:
        raise EvaluationError(f"smoothing sigma {sigma:g} frames is longer than any video "
                              f"(at most {MAX_SMOOTHING_SIGMA:,.0f} is taken); sigma counts "
                              "frames: the benchmarks' protocols use 3 to 7")
    if mode not in SMOOTHING_MODES:
        raise EvaluationError(f"smoothing mode {mode!r} is not one of {SMOOTHING_MODES}")
    if not np.isfinite(truncate) or truncate <= 0:
        raise EvaluationError(f"smoothing truncate must be finite and > 0, got {truncate}")
    if sigma * truncate > 4 * MAX_SMOOTHING_SIGMA:  # the kernel's radius, in frames
        raise EvaluationError(f"smoothing truncate {truncate:g} times sigma {sigma:g} makes a "
                              f"kernel radius of {sigma * truncate:g} frames, beyond "
                              f"{4 * MAX_SMOOTHING_SIGMA:,.0f}: the protocols truncate at 4 "
                              "sigmas")


def smooth(
    scores: ArrayLike, sigma: float, mode: str = "reflect", truncate: float = 4.0
) -> np.ndarray:
    """Return one video's scores filtered with a 1-D Gaussian of std `sigma` frames.

    `scipy.ndimage.gaussian_filter1d` with boundary `mode` ("reflect", scipy's default, is what
    the AI-VAD reference evaluation uses: the video is extended by mirroring it about its edges,
    edge frames repeated) and kernel radius `truncate * sigma`. `sigma == 0` returns the scores
    unchanged (as float64). Applied per video, never across video boundaries.
    """
    _check_smoothing(sigma, mode, truncate)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise EvaluationError(f"scores to smooth must be 1-D, got shape {s.shape}")
    if sigma == 0 or s.size == 0:
        return s.copy()
    return gaussian_filter1d(s, float(sigma), mode=mode, truncate=truncate)


SCORE_DIRECTIONS = ("anomaly", "normality")
NONFINITE_POLICIES = ("error", "replace")
NORMALIZATIONS = ("none", "video_minmax", "global_rank")


def orient(scores: ArrayLike, direction: str = "anomaly") -> np.ndarray:
    """Return one video's scores as float64 with higher = more anomalous.

    direction "anomaly": unchanged; "normality" (normality, PSNR, regularity, log-likelihood
    scores, higher = more normal): negated. +-inf and NaN pass through (negated).
    """
    if direction not in SCORE_DIRECTIONS:
        raise EvaluationError(f"score direction {direction!r} is not one of {SCORE_DIRECTIONS}")
    s = np.asarray(scores, dtype=np.float64)
    return -s if direction == "normality" else s.copy()


def replace_nonfinite(
    scores: Mapping[str, ArrayLike], policy: str = "error"
) -> dict[str, np.ndarray]:
    """Return the videos' scores with +-inf handled by `policy`; NaN is always an error.

    "error" (default): any non-finite score raises `EvaluationError` naming video and frame.
    "replace": +inf becomes the largest and -inf the smallest finite score of all videos
    together (the convention of STG-NF's `scoring_utils.py`, where frames without a person
    carry +inf normality). `EvaluationProtocol.prepare` applies it before `orient`, to the
    scores as given, so errors show the file's values; after `orient` it would give the same
    scores. NaN has no place in the order of scores and stays an error.
    """
    if policy not in NONFINITE_POLICIES:
        raise EvaluationError(f"non-finite policy {policy!r} is not one of {NONFINITE_POLICIES}")
    arrays = {n: np.asarray(s, dtype=np.float64) for n, s in scores.items()}
    for name, s in arrays.items():
        if s.ndim != 1:
            raise EvaluationError(f"video {name!r}: scores must be 1-D, got shape {s.shape}")
    # every video checked: the first named, the others counted (NaN first, which no policy
    # takes)
    nan = {n: np.flatnonzero(np.isnan(s)) for n, s in arrays.items() if np.isnan(s).any()}
    if nan:
        (name, frames), more = next(iter(nan.items())), _more_videos(len(nan) - 1, "NaN")
        raise EvaluationError(
            f"video {name!r}: score of frame {frames[0]} is NaN ({frames.size} NaN score(s) in "
            f"this video{more}); NaN has no place in the order of scores: fix the score file"
        )
    inf = {n: np.flatnonzero(np.isinf(s)) for n, s in arrays.items()
           if policy == "error" and np.isinf(s).any()}
    if inf:
        (name, frames), more = next(iter(inf.items())), _more_videos(len(inf) - 1, "infinite")
        raise EvaluationError(
            f"video {name!r}: score of frame {frames[0]} is {arrays[name][frames[0]]} "
            f"({frames.size} infinite score(s) in this video{more}); refused by the "
            "non-finite policy 'error': policy 'replace' (--nonfinite replace) maps +inf/-inf "
            "to the largest/smallest finite score of all videos"
        )
    if policy == "error":
        return {n: s.copy() for n, s in arrays.items()}
    low, high = _finite_bounds(arrays)
    out = {}
    for name, s in arrays.items():
        s = s.copy()
        s[s == np.inf] = high
        s[s == -np.inf] = low
        out[name] = s
    return out


def _more_videos(count: int, what: str) -> str:
    """", and 19 more videos with NaN scores" (`what` the kind), or "" for no more."""
    if not count:
        return ""
    return f", and {count} more video{'s' if count > 1 else ''} with {what} scores"


def _finite_bounds(arrays: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """(smallest, largest) finite score of all videos together: what -inf / +inf become."""
    finite = [s[np.isfinite(s)] for s in arrays.values()]
    finite = [f for f in finite if f.size]
    if not finite:
        raise EvaluationError("no finite score in any video: nothing to replace +-inf with")
    return min(float(f.min()) for f in finite), max(float(f.max()) for f in finite)


def nonfinite_replaced(scores: Mapping[str, ArrayLike]) -> dict[str, Any] | None:
    """What `replace_nonfinite(..., "replace")` does to the scores as given (before `orient`,
    in the file's units): {"n_replaced", "n_scores", "share", "+inf": {"count", "value"},
    "-inf": {...}} (an infinity only when present), or None when no score is infinite.
    In the file's units +inf always becomes the largest and -inf the smallest finite score
    of all videos, in either direction (negation swaps both the infinities and the ends).
    """
    arrays = {n: np.asarray(s, dtype=np.float64) for n, s in scores.items()}
    total = int(sum(s.size for s in arrays.values()))
    counts = {sign: int(sum(np.count_nonzero(s == sign * np.inf) for s in arrays.values()))
              for sign in (1, -1)}
    if not any(counts.values()):
        return None
    low, high = _finite_bounds(arrays)
    out: dict[str, Any] = {"n_replaced": counts[1] + counts[-1], "n_scores": total}
    out["share"] = out["n_replaced"] / total
    for sign, key, value in ((1, "+inf", high), (-1, "-inf", low)):
        if counts[sign]:
            out[key] = {"count": counts[sign], "value": value}
    return out


def nonfinite_note(replaced: Mapping[str, Any]) -> str:
    """One sentence saying what `nonfinite_replaced` found and the values used."""
    parts = [f"{replaced[k]['count']} {k} by the {'largest' if k == '+inf' else 'smallest'} "
             f"finite score of all videos, {replaced[k]['value']:.6g}"
             for k in ("+inf", "-inf") if k in replaced]
    return (f"non-finite policy 'replace' (--nonfinite replace): {replaced['n_replaced']} of "
            f"{replaced['n_scores']} scores ({100 * replaced['share']:.1f} %) replaced, "
            f"{' and '.join(parts)} (the scores as given, before any negation)")


def normalize(scores: Mapping[str, ArrayLike], method: str = "none") -> dict[str, np.ndarray]:
    """Return finite per-video scores transformed by `method`, before any smoothing.

    "none": unchanged. "video_minmax": each video mapped to [0, 1] by
    (s - min) / (max - min) over its own frames; a video whose frames all score the same
    becomes all 0. "global_rank": every frame's score replaced by its rank among the frames
    of all videos together, ties sharing their average rank, divided by the number of frames
    (values in (0, 1]). Both are unchanged by adding a constant to, or positively scaling,
    all scores; smoothing then acts on the normalised values.
    """
    if method not in NORMALIZATIONS:
        raise EvaluationError(f"normalization {method!r} is not one of {NORMALIZATIONS}")
    arrays = {n: np.asarray(s, dtype=np.float64) for n, s in scores.items()}
    if method == "none":
        return {n: s.copy() for n, s in arrays.items()}
    if method == "video_minmax":
        out = {}
        for name, s in arrays.items():
            low, high = (float(s.min()), float(s.max())) if s.size else (0.0, 0.0)
            out[name] = (s - low) / (high - low) if high > low else np.zeros_like(s)
        return out
    sizes = [s.size for s in arrays.values()]
    total = int(sum(sizes))
    if total == 0:
        return {n: s.copy() for n, s in arrays.items()}
    ranks = rankdata(np.concatenate(list(arrays.values())), method="average") / total
    parts = np.split(ranks, np.cumsum(sizes)[:-1])
    return dict(zip(arrays, parts, strict=True))


@dataclass(frozen=True)
class EvaluationProtocol:
    """Settings of the frame-level evaluation; defaults follow the MULDE/AI-VAD protocol.

    smoothing_sigma: std (frames) of the per-video Gaussian filter: 3 for Ped2 and Avenue,
    7 for ShanghaiTech (docs/method.md, "Temporal smoothing"), 0 for UCF-Crime (unsmoothed,
    as its benchmark's protocol); 0 turns smoothing off.
    dataset: the name of the dataset evaluated (`mulde.datasets.DATASETS`), or None: the
    description then says whether the sigma is the published protocol's for it
    (`PUBLISHED_SMOOTHING_SIGMA`, `PUBLISHED_BY`) or a choice, where no protocol is
    published.
    """

    smoothing_sigma: float | tuple[float, ...] = 3.0
    smoothing_mode: str = "reflect"
    smoothing_truncate: float = 4.0
    macro: MacroAUC = MacroAUC.PADDED
    direction: str = "anomaly"
    nonfinite: str = "error"
    normalization: str = "none"
    dataset: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "macro", MacroAUC(self.macro))
        sigma = self.smoothing_sigma
        if np.ndim(sigma) == 0:
            sigma = float(sigma)  # type: ignore[arg-type]
        else:
            sigma = tuple(float(x) for x in sigma)  # type: ignore[union-attr]
            if not sigma:
                raise EvaluationError("smoothing sigma: empty sequence (use 0 for no smoothing)")
            if len(sigma) == 1:
                sigma = sigma[0]
        object.__setattr__(self, "smoothing_sigma", sigma)
        for s in self.sigmas or (0.0,):
            _check_smoothing(s, self.smoothing_mode, self.smoothing_truncate)
        for value, allowed, what in (
            (self.direction, SCORE_DIRECTIONS, "score direction"),
            (self.nonfinite, NONFINITE_POLICIES, "non-finite policy"),
            (self.normalization, NORMALIZATIONS, "normalization"),
        ):
            if value not in allowed:
                raise EvaluationError(f"{what} {value!r} is not one of {allowed}")

    @property
    def sigmas(self) -> tuple[float, ...]:
        """The sigmas of the Gaussian filters applied one after another (none: no smoothing).

        Zero entries are identity passes and are left out; negative ones raise on creation."""
        raw = self.smoothing_sigma
        values = raw if isinstance(raw, tuple) else (raw,)
        for s in values:
            _check_smoothing(s, self.smoothing_mode, self.smoothing_truncate)
        return tuple(s for s in values if s > 0)

    @property
    def smooths(self) -> bool:
        """Whether any smoothing is applied."""
        return bool(self.sigmas)

    def sigma_text(self) -> str:
        """The smoothing sigma(s) as text: "3" or "1, 2, 3, 4, 5, 6"."""
        raw = self.smoothing_sigma
        return ", ".join(f"{s:g}" for s in (raw if isinstance(raw, tuple) else (raw,)))

    def smoothing_basis(self) -> str:
        """Where the smoothing sigma comes from for `dataset`, in words: "AI-VAD's published
        value for avenue" (for UCF-Crime, unsmoothed: "Sultani et al. 2018's published
        protocol for ucf_crime, unsmoothed"), the published sigma where another is used
        (sigma 0 included), or a choice where no published protocol is known here
        (`PUBLISHED_SMOOTHING_SIGMA`, `PUBLISHED_BY`); "" without a dataset, and for an
        unsmoothed evaluation of a dataset without a published protocol."""
        if self.dataset is None:
            return ""
        published = PUBLISHED_SMOOTHING_SIGMA.get(self.dataset)
        if published is None:  # the sigma may be the default or given: a choice either way
            where = ("a folder of one's own videos" if self.dataset == "folder"
                     else self.dataset)
            return (f"a choice, as no MULDE protocol is published for {where}"
                    if self.smooths else "")
        owner = PUBLISHED_BY[self.dataset]
        if self.sigmas == ((published,) if published else ()):
            if not published:
                return (f"{owner}'s published protocol for {self.dataset}, unsmoothed as the "
                        "weakly supervised works after it report it")
            return f"{owner}'s published value for {self.dataset}"
        if not published:
            return f"where {owner}'s published protocol for {self.dataset} is unsmoothed"
        return f"where {owner}'s published protocol for {self.dataset} has sigma {published:g}"

    def prepare(self, scores: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
        """Return {video: finite float64 anomaly scores} after steps 1-3 (before smoothing).

        Global steps (non-finite replacement, global rank) use all the videos given.
        """
        # non-finite scores first, so that errors show the file's values (+inf, not the
        # -inf of a negated normality score); replacing before or after `orient` gives
        # the same scores (negation swaps both the infinities and the finite extremes)
        finite = replace_nonfinite(scores, self.nonfinite)
        oriented = {name: orient(s, self.direction) for name, s in finite.items()}
        return normalize({n: check_scores(n, s) for n, s in oriented.items()},
                         self.normalization)

    def smooth(self, scores: ArrayLike) -> np.ndarray:
        """Return one video's scores smoothed with this protocol's filter(s), in turn."""
        out = np.asarray(scores, dtype=np.float64).copy()
        for sigma in self.sigmas:
            out = smooth(out, sigma, self.smoothing_mode, self.smoothing_truncate)
        return out

    def describe(self, labelled: bool = True) -> str:
        """One sentence stating the protocol the reported numbers follow; `labelled=False`
        (scores without ground truth): only the steps the scores went through, without the
        metrics, which are not computed then."""
        steps = []
        if self.direction == "normality":
            steps.append("scores negated (the input scores are normality scores)")
        if self.nonfinite == "replace":
            steps.append("+inf/-inf replaced by the largest/smallest finite score of all videos")
        if self.normalization == "video_minmax":
            steps.append("each video's scores min-max normalised to [0, 1]")
        elif self.normalization == "global_rank":
            steps.append("scores replaced by their rank over all frames / number of frames")
        sigmas = self.sigmas
        if not sigmas:
            smoothing = "no temporal smoothing"
        else:
            filters = (
                f"a 1-D Gaussian filter, sigma={sigmas[0]:g} frames"
                if len(sigmas) == 1
                else f"1-D Gaussian filters of sigma {self.sigma_text()} frames in turn"
            )
            smoothing = (
                f"each test video's frame scores smoothed with {filters} (scipy "
                f"gaussian_filter1d, mode={self.smoothing_mode}, "
                f"truncate={self.smoothing_truncate:g})"
                + ("; the *_unsmoothed numbers use the frame scores before smoothing"
                   if labelled else "")
            )
        steps.append(smoothing)
        if not labelled:
            text = "; ".join(steps)
            return f"{text[0].upper()}{text[1:]}."
        if self.macro is MacroAUC.PADDED:
            macro = (
                "macro AUC (padded) = mean of per-video ROC-AUCs, each video padded with a "
                "normal frame ranked below and an anomalous frame ranked above all its frames "
                "(AI-VAD's padding, order-only)"
            )
        else:
            macro = (
                "macro AUC (skip_single_class) = mean of the per-video ROC-AUCs of the videos "
                "holding both classes; single-class videos left out"
            )
        basis = self.smoothing_basis()
        published = self.dataset is None or self.dataset in PUBLISHED_SMOOTHING_SIGMA
        aivad = self.dataset is None or PUBLISHED_BY.get(self.dataset) == "AI-VAD"
        # another's protocol (UCF-Crime's): MULDE / AI-VAD's metrics, its basis said below
        kind = "MULDE / AI-VAD protocol" if aivad else "MULDE / AI-VAD metrics"
        if basis:
            kind += f"; smoothing sigma {self.sigma_text()}, {basis}"
        elif not published:
            kind += f"; no MULDE protocol is published for {self.dataset}"
        return (
            f"Frame-level evaluation ({kind}): "
            f"{'; '.join(steps)}. Micro AUC, average precision and EER over all test frames "
            f"concatenated; {macro}."
        )

    def to_dict(self) -> dict[str, Any]:
        sigma = self.smoothing_sigma
        return {
            "direction": self.direction,
            "nonfinite": self.nonfinite,
            "normalization": self.normalization,
            "smoothing_sigma": list(sigma) if isinstance(sigma, tuple) else float(sigma),
            "smoothing_mode": self.smoothing_mode,
            "smoothing_truncate": float(self.smoothing_truncate),
            "macro": self.macro.value,
            "description": self.describe(),
        }


def compute_metrics(
    scores: Mapping[str, ArrayLike],
    labels: Mapping[str, ArrayLike],
    protocol: EvaluationProtocol | None = None,
    *,
    prepared: bool = False,
) -> dict[str, Any]:
    """Return the metrics dict of per-video frame scores under `protocol`.

    `scores` are raw scores, passed through `protocol.prepare` first, or, with
    `prepared=True`, its output already. Keys: micro_auc, macro_auc, average_precision, eer,
    per_video_auc (smoothed scores, the protocol's headline numbers), the same with suffix
    `_unsmoothed` (prepared scores before smoothing), macro_definition (the `MacroAUC` value
    both macro numbers follow), single_class_videos (left out of the macro AUC under
    "skip_single_class", padded under "padded"), n_videos, n_frames, n_anomalous_frames,
    warnings (sentences, e.g. when the scores look inverted, naming the score direction
    other than the protocol's, or when every frame's score is the same), notes (sentences
    qualifying the numbers) and `protocol` (EvaluationProtocol.to_dict()).

    Under the padded macro AUC, when at least a quarter of the videos (and not all) hold a
    single class, each of which counts 1.0 in it (random scores reach 0.76 on UCF-Crime),
    a note says how many and gives the macro AUC over the two-class videos alone, also
    recorded as macro_auc_two_class and macro_auc_two_class_unsmoothed (the
    skip_single_class definition; each command says how it reports that one as the macro AUC).
    For a dataset whose literature reports unsmoothed AUCs (`REPORTED_UNSMOOTHED`:
    UCF-Crime, whose default sigma is 0), a smoothed evaluation notes that the unsmoothed
    numbers are the ones to compare.

    The inversion warning's rule: the lower of the smoothed and unsmoothed micro AUCs is
    below 0.5 by more than `INVERSION_MARGIN` (0.05), i.e. below 0.45. Chance-level scores
    give about 0.5 give or take a few hundredths (random scores: 0.496-0.499 on Avenue,
    UBnormal, UCF-Crime), and flipping them would only flatter a chance result; a margin
    fixed in AUC, not a standard error from the frame counts, because neighbouring frames'
    scores and labels are strongly correlated and the frame count would overstate how
    certain the AUC is. Real inversions (normality scores such as STG-NF's taken as anomaly
    scores) fall far below it.
    """
    protocol = protocol or EvaluationProtocol()
    raw = (
        {name: check_scores(name, s) for name, s in scores.items()}
        if prepared
        else protocol.prepare(scores)
    )
    smoothed = {name: protocol.smooth(s) for name, s in raw.items()}
    out: dict[str, Any] = {}
    for suffix, sc in (("", smoothed), ("_unsmoothed", raw)):
        macro, per_video = macro_auc(sc, labels, protocol.macro)
        out["micro_auc" + suffix] = micro_auc(sc, labels)
        out["macro_auc" + suffix] = macro
        out["average_precision" + suffix] = average_precision(sc, labels)
        out["eer" + suffix] = equal_error_rate(sc, labels)
        out["per_video_auc" + suffix] = per_video
    out["macro_definition"] = protocol.macro.value
    out["single_class_videos"] = single_class_videos({n: labels[n] for n in raw})
    out["notes"] = []
    single = len(out["single_class_videos"])
    if (protocol.macro is MacroAUC.PADDED and single * 4 >= len(raw)
            and single < len(raw)):
        for suffix, sc in (("", smoothed), ("_unsmoothed", raw)):
            out["macro_auc_two_class" + suffix] = macro_auc(
                sc, labels, MacroAUC.SKIP_SINGLE_CLASS)[0]
        out["notes"].append(
            f"{single} of the {len(raw)} videos {'holds' if single == 1 else 'hold'} a "
            f"single class and {'counts 1.0' if single == 1 else 'count 1.0 each'} in the "
            "padded macro AUC "
            f"{out['macro_auc']:.4f}, which lifts even chance scores; over the "
            f"{len(raw) - single} two-class video{'s' * (len(raw) - single != 1)} alone the "
            "macro AUC is "
            f"{out['macro_auc_two_class']:.4f} (unsmoothed "
            f"{out['macro_auc_two_class_unsmoothed']:.4f}; the skip_single_class definition)")
    if protocol.dataset in REPORTED_UNSMOOTHED and protocol.smooths:
        out["notes"].append(
            f"the literature reports {protocol.dataset}'s frame-level AUC on unsmoothed "
            f"scores: compare the unsmoothed micro AUC {out['micro_auc_unsmoothed']:.4f} "
            "(micro_auc_unsmoothed) with published numbers, not the micro AUC "
            f"{out['micro_auc']:.4f}, smoothed with sigma {protocol.sigma_text()}, which no "
            "published protocol sets there")
    n_anomalous = sum(int(np.count_nonzero(np.asarray(labels[n]))) for n in raw)
    out["n_videos"] = len(raw)
    out["n_frames"] = int(sum(s.size for s in raw.values()))
    out["n_anomalous_frames"] = n_anomalous
    out["warnings"] = []
    # inverted only where the smoothed and the unsmoothed ranking both are: where smoothing
    # lifts the AUC above the band, flipping the direction would invert the reported one
    low = out["micro_auc"]
    shown = f"micro AUC {low:.4f}" + (f" (unsmoothed {out['micro_auc_unsmoothed']:.4f})"
                                      if protocol.smooths else "")
    inverted = max(low, out["micro_auc_unsmoothed"]) < 0.5 - INVERSION_MARGIN
    if inverted and protocol.direction == "anomaly":
        out["warnings"].append(
            f"{shown} is below 0.5 by more than "
            f"{INVERSION_MARGIN:g}: the scores "
            "rank normal frames above anomalous "
            "ones; if higher scores mean more normal (normality, PSNR, regularity, "
            "log-likelihood), evaluate with score direction 'normality' (--direction "
            "normality)"
        )
    elif inverted:  # the other direction already: the scores look like anomaly scores
        out["warnings"].append(
            f"{shown} is below 0.5 by more than "
            f"{INVERSION_MARGIN:g} with the "
            "scores taken as normality scores "
            "(direction 'normality': negated): they look like anomaly scores (higher = more "
            "anomalous); if they are, evaluate with score direction 'anomaly' (drop "
            "--direction normality)"
        )
    values = np.concatenate([np.ravel(s) for s in raw.values()]) if raw else np.zeros(0)
    if values.size > 1 and np.all(values == values[0]):  # no ranking at all: AUC 0.5
        out["warnings"].append(
            f"every one of the {values.size} frame scores is {values[0]:.6g}: they rank "
            "nothing, so the micro AUC is 0.5 by construction and the macro AUC counts only "
            "how many videos hold a single class; check that the scores are the ones meant "
            "(the right column or key of a score file) and were not all clipped, filled or "
            "normalised away")
    out["protocol"] = protocol.to_dict()
    return out

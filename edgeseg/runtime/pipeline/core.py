"""The EVS scheduler: keyframe segmentation every S-th frame at downscale D, DIS flow on CPU worker threads
(overlapped with the engine), nearest-neighbour propagation by the C kernels, IAM + Refiner where flow is
unreliable, and the STGRU / NetWarp / VideoGCRF fusions. Torch-free.

One ``Pipeline`` processes frames in order (``process``); ``edgeseg.runtime.pipeline.session`` feeds it from a
source in sync or live mode. With ``overlap`` (live mode) a due keyframe is segmented on a separate
thread while the following frames are still propagated from the previous keyframe; when its result
arrives it is carried to the current frame through the backward flows stored meanwhile (the same
nearest warps the frames in between would have had in sync mode), so no frame waits for the backbone.

Recurrent state (last labels/probabilities/features, STGRU state, NetWarp previous features, the GCRF
window) lives here, never in a graph.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from edgeseg.bundle import Bundle, graph_key
from edgeseg.errors import UsageError
from edgeseg.runtime import fusion
from edgeseg.runtime.engines import device_chain
from edgeseg.runtime.engines.engine_set import EngineSet
from edgeseg.runtime.engines.network_io import KeyOutput, NetworkIO
from edgeseg.runtime.engines.preprocess import preprocess
from edgeseg.runtime.engines.registry import Engine
from edgeseg.runtime.engines.thread_budget import ThreadBudget, thread_budget
from edgeseg.runtime.motion import kernels
from edgeseg.runtime.motion.flow import Flow, FlowEstimator, full_flow, to_gray
from edgeseg.runtime.operating_point import FlowParams, OperatingPoint
from edgeseg.runtime.pipeline import tiles
from edgeseg.runtime.pipeline.refinement import Refinement, softmax
from edgeseg.runtime.pipeline.stats import Stats


@dataclass
class FrameOutput:
    index: int
    labels: np.ndarray  # HxW uint8 at the frame's resolution
    keyframe: bool
    warped: bool = False  # propagated by flow (not a keyframe, W on)
    refined_pixels: int = 0  # pixels re-predicted by the refiner (M > 0)
    refined_tiles: int = 0  # tiles the refiner ran on (0: the full frame, or no refinement)
    inconsistency: float | None = None  # IAM share of inconsistent pixels, when computed
    source_key: int = 0  # index of the keyframe whose segmentation these labels carry
    launched_keyframe: bool = False  # overlap: keyframe inference for this frame started in the background


@dataclass
class _State:
    flow_image: np.ndarray | None  # the frame as its flows take it (FlowEstimator.flow_image); None: no flows
    shape: tuple[int, ...]
    labels: np.ndarray
    probs: np.ndarray | None = None  # L x h/4 x w/4 (refine)
    feats: np.ndarray | None = None  # C x h/8 x w/8 (refine)
    since_key: int = 0
    inconsistency: float = 0.0
    source_key: int = 0


@dataclass
class _Pending:
    """A keyframe being segmented in the background (overlap), and the backward flows of the frames since."""

    job: Future  # -> _State of the keyframe (its source_key says which frame it was)
    flows: list[Flow]


def check_graphs(bundle: Bundle, op: OperatingPoint) -> None:
    """A one-line UsageError when ``bundle`` lacks a graph ``op`` runs: which, why the export did not write it (a
    foreign export records that in the manifest's ``source.skipped``), and what to do."""
    missing = [k for k in required_graphs(op) if k not in bundle.graphs]
    if not missing:
        return
    source = bundle.manifest.source
    skipped = source.get("skipped") or {}
    have = sorted({g.downscale for g in bundle.graphs.values() if g.role == "backbone"}, reverse=True)
    parts = []
    for key in (k for k in missing if k.startswith("backbone")):
        if key in skipped:
            why = f"the export skipped {key}: {str(skipped[key]).rstrip('.;')}"
        elif source.get("kind") == "onnx":
            why = f"the export wrote no {key}: a foreign ONNX model fixed at one input size gets D=1 only"
        else:
            why = f"the export wrote no {key}"
        parts.append(f"{why}; pick an operating point with D={' or D='.join(f'{d:g}' for d in have) or '1'} "
                     "(`edgeseg profiles` shows each point's D), or re-export from a model whose input size is free "
                     "(an edgeseg checkpoint, an import spec with --size, or an ONNX file with a dynamic size)")
    heads = [k for k in missing if not k.startswith("backbone")]
    if heads:
        parts.append(f"re-export with the head(s) {', '.join(heads)} (--heads, or --heads-from for a bundle), "
                     "or pick a point without them (`edgeseg profiles`)")
    raise UsageError(f"profile {op.name} ({op.label()}) needs graph(s) {', '.join(missing)} that bundle "
                     f"{bundle.root} lacks; {'; '.join(parts)}")


def runnable(bundle: Bundle, op: OperatingPoint) -> bool:
    """Whether ``bundle`` has every graph ``op`` needs."""
    return all(k in bundle.graphs for k in required_graphs(op))


def required_graphs(op: OperatingPoint) -> list[str]:
    """The graphs ``op`` runs: the backbone at its D, the refiner when a frame can be propagated (S > 1 or adaptive;
    at S = 1 every frame is a keyframe and EVS's "R" never applies), its fusion head."""
    keys = [graph_key("backbone", op.downscale)]
    if op.refine and (op.keyframe_interval > 1 or op.adaptive is not None):
        keys.append("refiner")
    if op.fusion != "none":
        keys.append(op.fusion)
    return keys


def graphs_to_open(bundle: Bundle, op: OperatingPoint) -> list[str]:
    """``required_graphs``, plus the refiner's tile graph where the bundle has one (refinement by tiles)."""
    keys = required_graphs(op)
    return keys + [tiles.GRAPH] if "refiner" in keys and tiles.GRAPH in bundle.graphs else keys


def started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose ``workers`` threads exist from the start.

    ThreadPoolExecutor starts a thread when a job is submitted before an idle one has signalled it is free,
    a race that a busy machine makes likelier: runs then grew a thread hours in. Each worker here takes a
    job that waits until all have one, so all are started now and the count stays constant.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    everyone = threading.Barrier(workers + 1, timeout=30)  # a thread that cannot start breaks it: no hang
    for _ in range(workers):
        pool.submit(everyone.wait)
    try:
        everyone.wait()
    except threading.BrokenBarrierError:
        pool.shutdown(wait=False)
        raise UsageError(f"could not start {workers} {name} worker thread(s) (thread limit reached?)") from None
    return pool


class Pipeline:
    """Process frames in order under one operating point; ``process(rgb) -> FrameOutput``."""

    def __init__(self, bundle: Bundle, op: OperatingPoint, backend: str = "onnxrt", stats: Stats | None = None,
                 flow_threads: int | None = None, kernel_threads: int | None = None, engine_threads: int | None = None,
                 overlap: bool = False, engine_cache: str | None = None, engines: EngineSet | dict[str, Engine] | None = None,
                 threads: ThreadBudget | None = None, tile_budget: float | None = None):
        """``threads``: the per-stage thread budget (default: ``thread_budget(live=overlap)``); ``flow_threads``,
        ``kernel_threads`` and ``engine_threads`` override its parts. ``tile_budget``: the refiner runs on tiles
        when they hold at most this share of the full frame's pixels (None: where they cost less, measured when the
        refiner is opened; 0: always the full frame; needs a bundle with a tile graph).

        ``engines``: an ``EngineSet`` shared with other pipelines (its owner closes it; ``backend``, ``engine_cache``
        and the engine threads are then the set's), or engines already open, by graph key, that this pipeline uses
        but never closes. Without it the pipeline opens and closes its own."""
        self.bundle = bundle
        check_graphs(bundle, op)  # before anything is started: a missing graph leaves nothing behind
        self.stats = stats or Stats()
        budget = threads or thread_budget(live=overlap)
        flow_threads = flow_threads or budget.flow
        kernel_threads = kernel_threads or budget.kernels
        if isinstance(engines, EngineSet):
            self.engine_set, self._owns_engines = engines, False
        else:  # its own set; engines handed in open are borrowed by it, not closed
            self.engine_set = EngineSet(bundle, backend, engine_threads or budget.engine, engine_cache,
                                        budget.engine_spinning, given=engines)
            self._owns_engines = True
        self.engines: dict[str, Engine] = {}
        self.net_size = tuple(bundle.manifest.input.size)
        self.mean, self.std = bundle.manifest.input.mean, bundle.manifest.input.std
        self.kernel_threads = kernel_threads
        self.tile_grid = tiles.grid_of(bundle)
        self.tile_budget = tile_budget
        self.refinement: Refinement | None = None
        self._pool = started_pool(max(1, flow_threads), "edgeseg-flow")
        self._want_overlap = overlap
        self._accel = started_pool(1, "edgeseg-keyframe") if overlap else None
        self.index = 0  # frames processed; not reset with the temporal state (outputs stay numbered in order)
        self._pending: _Pending | None = None
        self.backbone: Engine | None = None  # the backbone engine, or a device chain around it (device_chain)
        try:
            self.switch(op)
        except BaseException:
            self.close()
            raise

    def switch(self, op: OperatingPoint) -> None:
        """Run under ``op`` from the next frame on (a keyframe): the engines it needs are opened first, then the
        ones it no longer needs closed (when this pipeline owns its engines; a shared set's owner decides), so a
        failure leaves the current point running; statistics and frame numbers carry on."""
        check_graphs(self.bundle, op)
        needed = graphs_to_open(self.bundle, op)
        had = [k for k in needed if k in self.engine_set]
        chosen = self.engine_set.acquire(needed)
        self._drain()  # a keyframe still running in the background uses the engines being replaced
        try:
            chain = self._chain(op, chosen[graph_key("backbone", op.downscale)])
        except BaseException:
            if self._owns_engines:
                self.engine_set.keep_only(set(self.engines) | set(had))
            raise
        if chain is not self.backbone:
            self._release_chain()
        if self._owns_engines:
            self.engine_set.keep_only(needed)
        self.op, self.engines, self.backbone = op, chosen, chain
        self.refinement = Refinement(self.engines["refiner"], self.engines.get(tiles.GRAPH), self.tile_grid,
                                     self.tile_budget) if "refiner" in self.engines else None
        self.fusion = fusion.fusion(op.fusion) if op.fusion != "none" else None
        self.net = NetworkIO(self.bundle, graph_key("backbone", op.downscale))
        self._local = threading.local()  # flow estimators are made per thread with the point's parameters
        # Overlap needs something to propagate with while the keyframe runs: warp on, no fusion (fusions
        # need the backbone's output on the frame itself).
        self.overlap = self._want_overlap and op.warp and op.fusion == "none"
        self.reset()

    # --- state ---------------------------------------------------------------------------------
    def _drain(self) -> None:
        """Wait for a keyframe running in the background (live mode); its result is dropped."""
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.job.result()
            except Exception:  # noqa: BLE001 - a dropped result's failure does not matter any more
                pass

    def reset(self) -> None:
        """Forget all temporal state: the next frame is a keyframe."""
        self._drain()
        self.state: _State | None = None
        self.fusion_state = None  # the fusion head's recurrent state (its spec makes and updates it)
        if self.fusion is not None:
            self.fusion_state = self.fusion.new_state(self.fusion.window(self.engines[self.fusion.name].inputs))

    def _chain(self, op: OperatingPoint, backbone: Engine) -> Engine:
        """The keyframe chain around ``backbone``: on a GPU (ONNX Runtime's provider, TensorRT) whole keyframes run
        there (the bundle's pre/post graphs). The current chain is kept when it already runs that engine."""
        if self.backbone is not None and device_chain.wrapped(self.backbone) is backbone:
            return self.backbone
        return device_chain.chained(self.bundle, op.downscale, backbone, self.engine_set.open)

    def _release_chain(self) -> None:
        if self.backbone is not None:
            device_chain.release(self.backbone)
            self.backbone = None

    def close(self) -> None:
        self._drain()
        self._release_chain()
        self._pool.shutdown(wait=True)
        if self._accel is not None:
            self._accel.shutdown(wait=True)
        if self._owns_engines:
            self.engine_set.close()
        self.engines = {}

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- flow on worker threads ----------------------------------------------------------------
    def _dis(self) -> FlowEstimator:
        est = getattr(self._local, "dis", None)
        if est is None:
            est = self._local.dis = FlowEstimator(self.op.flow)
        return est

    def _flow_job(self, a: np.ndarray, b: np.ndarray, size_hw: tuple[int, int]) -> tuple[Flow, float]:
        """Backward flow between two flow images of frames of ``size_hw`` (a ``CoarseFlow`` where DIS allows)."""
        t = time.perf_counter()
        return self._dis().between(a, b, size_hw), time.perf_counter() - t

    def _flow_here(self, a: np.ndarray, b: np.ndarray, size_hw: tuple[int, int]) -> Future:
        """The flow computed on this thread, as a finished job."""
        job: Future = Future()
        with self.stats.stage("flow"):
            job.set_result(self._flow_job(a, b, size_hw))
        return job

    def _wait(self, job: Future) -> Flow:
        """Result of a flow job; the stage time is the time the pipeline waited for it (overlap is free)."""
        t = time.perf_counter()
        flow, _ = job.result()
        self.stats.add_stage("flow", time.perf_counter() - t)
        return flow

    # --- one frame -----------------------------------------------------------------------------
    def is_keyframe(self, rgb: np.ndarray) -> bool:
        s = self.state
        if s is None or s.shape != rgb.shape:
            return True  # first frame, or the stream changed size: start over
        if self.op.adaptive is not None:
            a = self.op.adaptive
            return s.since_key + 1 >= a.max_interval or s.inconsistency > a.max_inconsistency
        return s.since_key + 1 >= self.op.keyframe_interval

    def can_defer(self, rgb: np.ndarray) -> bool:
        """Whether a due keyframe may be put off by a frame (propagated instead): never the first frame, a size
        change, or a fusion point (its head needs every frame segmented)."""
        s = self.state
        return s is not None and s.shape == rgb.shape and self.fusion is None and not self.overlap

    def shift_phase(self, frames: int) -> None:
        """Bring the next keyframe ``frames`` frames earlier (staggering streams that share an engine)."""
        if self.state is not None:
            period = self.op.adaptive.max_interval if self.op.adaptive else self.op.keyframe_interval
            self.state.since_key = min(self.state.since_key + frames, max(0, period - 1))

    def process(self, rgb: np.ndarray, arrival: float | None = None, defer_key: bool = False) -> FrameOutput:
        """Segment or propagate one frame. ``arrival`` (perf_counter time the frame was read) sets its latency.
        ``defer_key``: propagate even if a keyframe is due, where ``can_defer`` allows it."""
        start = time.perf_counter() if arrival is None else arrival
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise UsageError(f"frames must be HxWx3 uint8 RGB, got {rgb.dtype} {rgb.shape}")
        op, prev = self.op, self.state
        key = self.is_keyframe(rgb) and not (defer_key and self.can_defer(rgb))
        if prev is not None and prev.shape != rgb.shape:
            self.reset()
            prev = None
        image = None  # a point that never computes flow (no warp, no flow-taking fusion) needs no flow image
        fusion_flow = self.fusion is not None and self.fusion.needs_back_flow  # a head taking every frame's flow
        if op.warp or fusion_flow:
            with self.stats.stage("flow"):
                image = self._dis().flow_image(to_gray(rgb))
        if self.overlap and prev is not None:
            assert image is not None  # overlap needs warp
            out = self._process_overlapped(rgb, image, prev)
            self.index += 1
            self.stats.frame_done(time.perf_counter() - start, out.launched_keyframe)
            return out
        need_back = prev is not None and ((not key and op.warp) or (key and fusion_flow))
        need_fwd = prev is not None and not key and op.warp and (op.refine or op.adaptive is not None)
        size = rgb.shape[:2]
        fwd_job = self._pool.submit(self._flow_job, prev.flow_image, image, size) if need_fwd and prev else None
        back_job = None
        if need_back and prev:
            # Nothing to overlap a propagated frame's only flow with: computed here, without a thread handoff (0.1 ms)
            alone = not key and fwd_job is None
            back_job = (self._flow_here(image, prev.flow_image, size) if alone
                        else self._pool.submit(self._flow_job, image, prev.flow_image, size))
        if key:
            out = self._keyframe(rgb, image, back_job)
        else:
            assert prev is not None
            out = self._propagate(rgb, image, prev, back_job, fwd_job)
        self.index += 1
        self.stats.frame_done(time.perf_counter() - start, out.keyframe)
        return out

    def _keyframe(self, rgb: np.ndarray, image: np.ndarray | None, back_job: Future | None) -> FrameOutput:
        key = self._backbone(rgb)
        if self.fusion is not None:
            if key.scores is None:
                raise UsageError(f"fusion {self.op.fusion} needs class scores; this bundle's model gives labels only")
            key = KeyOutput(self._fuse(rgb, self.net.head_scores(key.scores), key.feats, back_job), None, key.feats)
        self.state = self._key_state(rgb, image, key, self.index)
        return FrameOutput(self.index, self.state.labels, keyframe=True, source_key=self.index)

    def _backbone(self, rgb: np.ndarray) -> KeyOutput:
        """The keyframe's network output and labels; scores and features only where refinement needs them (a GPU
        engine leaves them on the device otherwise)."""
        assert self.backbone is not None  # set by switch
        with self.stats.stage("segment"):
            if self.fusion is not None:  # its labels come from the fused scores, on the host
                return self.net.infer(self.backbone, rgb)
            return self.net.keyframe(self.backbone, rgb, keep=self.op.refine or self.op.adaptive is not None)

    def _key_state(self, rgb: np.ndarray, image: np.ndarray | None, key: KeyOutput, index: int) -> _State:
        with self.stats.stage("segment"):
            labels = key.frame_labels if key.frame_labels is not None else self.net.labels(key, rgb.shape[:2])
        keep = (self.op.refine or self.op.adaptive is not None) and key.scores is not None
        probs = softmax(self.net.head_scores(key.scores)) if keep else None  # type: ignore[arg-type]  # keep: scores exist
        return _State(flow_image=image, shape=rgb.shape, labels=labels, probs=probs,
                      feats=key.feats if keep else None, source_key=index)

    def _segment_job(self, rgb: np.ndarray, image: np.ndarray, index: int) -> _State:
        return self._key_state(rgb, image, self._backbone(rgb), index)

    # --- live mode: keyframes in the background -------------------------------------------------
    def _process_overlapped(self, rgb: np.ndarray, image: np.ndarray, prev: _State) -> FrameOutput:
        pending = self._pending
        if pending is not None and pending.job.done():
            self._pending = None
            prev = self.state = self._catch_up(pending.job.result(), pending.flows, prev)
        launch = self._pending is None and self.is_keyframe(rgb)
        size = rgb.shape[:2]
        back_job = self._pool.submit(self._flow_job, image, prev.flow_image, size)
        fwd_job = (self._pool.submit(self._flow_job, prev.flow_image, image, size) if self.op.refine or self.op.adaptive
                   else None)
        out = self._propagate(rgb, image, prev, back_job, fwd_job)
        if self._pending is not None:
            self._pending.flows.append(back_job.result()[0])
        if launch:
            assert self._accel is not None
            self._pending = _Pending(self._accel.submit(self._segment_job, rgb, image, self.index), [])
            out.launched_keyframe = True
        return out

    def _catch_up(self, key: _State, flows: list[Flow], prev: _State) -> _State:
        """Carry a keyframe's state to the frame before the current one through the stored backward flows."""
        labels, probs, feats = key.labels, key.probs, key.feats
        for flow in flows:
            labels, probs, feats = self._warp_maps(labels, probs, feats, flow)
        return _State(flow_image=prev.flow_image, shape=prev.shape, labels=labels, probs=probs, feats=feats,
                      since_key=len(flows), source_key=key.source_key)

    def _warp_maps(self, labels: np.ndarray, probs: np.ndarray | None, feats: np.ndarray | None, back: Flow
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Labels (1/1), probabilities (1/4) and features (1/8) warped by one backward flow (one kernel call per size)."""
        with self.stats.stage("warp"):
            labels = kernels.warp([labels], back, self.kernel_threads)[0]
            probs = kernels.warp([probs], back, self.kernel_threads)[0] if probs is not None else None
            feats = kernels.warp([feats], back, self.kernel_threads)[0] if feats is not None else None
        return labels, probs, feats

    def _fuse(self, rgb: np.ndarray, logits: np.ndarray, feats: np.ndarray | None, back_job: Future | None) -> np.ndarray:
        """The fusion head's scores for a keyframe, built by its spec from this frame and its recurrent state."""
        assert self.fusion is not None
        flow = full_flow(self._wait(back_job)) if back_job is not None else None  # the heads take HxWx2
        frame = fusion.FusionFrame(rgb, logits[None], None if feats is None else feats[None], flow, self.mean, self.std)
        with self.stats.stage("fuse"):
            return self.fusion.step(self.fusion_state, frame, self.engines[self.fusion.name].infer)

    def _propagate(self, rgb: np.ndarray, image: np.ndarray | None, prev: _State, back_job: Future | None,
                   fwd_job: Future | None) -> FrameOutput:
        op = self.op
        if not op.warp or back_job is None:
            self.state = _State(flow_image=image, shape=rgb.shape, labels=prev.labels, probs=prev.probs, feats=prev.feats,
                                since_key=prev.since_key + 1, source_key=prev.source_key)
            return FrameOutput(self.index, prev.labels, keyframe=False, source_key=prev.source_key)
        back = self._wait(back_job)
        labels, probs, feats = self._warp_maps(prev.labels, prev.probs, prev.feats, back)
        out = FrameOutput(self.index, labels, keyframe=False, warped=True, source_key=prev.source_key)
        inconsistency = 0.0
        if fwd_job is not None:
            fwd = self._wait(fwd_job)
            with self.stats.stage("refine"):
                mask, count = kernels.iam_inconsistency(labels, back, fwd, self.kernel_threads)
            inconsistency = count / mask.size
            out.inconsistency = inconsistency
            if op.refine and count and probs is not None and self.refinement:  # S=1: a deferred keyframe only
                with self.stats.stage("refine"):
                    out.refined_pixels, out.refined_tiles = self._refine(rgb, mask, labels, probs, feats)
                self.stats.add_refinement(out.refined_tiles)
        self.state = _State(flow_image=image, shape=rgb.shape, labels=labels, probs=probs, feats=feats,
                            since_key=prev.since_key + 1, inconsistency=inconsistency, source_key=prev.source_key)
        return out

    def _refine(self, rgb: np.ndarray, mask: np.ndarray, labels: np.ndarray, probs: np.ndarray, feats: np.ndarray | None
                ) -> tuple[int, int]:
        """EVS eq. 4 on the pixels where the soft IAM mask is > 0 (labels updated in place); returns their count and
        the number of tiles the refiner ran on (0: the full frame).

        The refined labels are carried to the next frame, the probabilities and features stay the keyframe's,
        warped frame by frame: the refiner's inputs are then exactly what it was trained on
        (``edgeseg.train.heads.refiner_samples``), not its own earlier outputs fed back.
        """
        iam = self.op.iam
        soft = mask
        if iam.dilate > 1:
            soft = cv2.dilate(soft, np.ones((iam.dilate, iam.dilate), np.uint8))
        soft = soft.astype(np.float32)
        if iam.blur > 1:
            soft = cv2.blur(soft, (iam.blur, iam.blur))
        assert self.refinement is not None
        planned = self.refinement.plan(soft)
        refined = self.refinement.probs(preprocess(rgb, self.net_size, self.mean, self.std), probs, feats, planned)
        return kernels.blend_argmax(soft, refined, probs, labels, self.kernel_threads), len(planned)


class GivenLabels(Pipeline):
    """Label propagation through a whole clip as a pipeline the Session drives (``edgeseg batch --task propagate``):
    the frames that have labels (``labels[frame index]``, HxW uint8 class ids) are its keyframes, and each is carried
    forward frame by frame by the pipeline's own propagated-frame path (DIS backward flow with ``op``'s flow
    parameters, the C nearest-warp kernel) until the next labelled frame. No network runs. Frames before the first
    labelled one get ``fill`` (the ignore class: unlabelled)."""

    def __init__(self, bundle: Bundle, labels: dict[int, np.ndarray], fill: int, op: OperatingPoint | None = None,
                 **kw: Any):
        self.given, self.fill = labels, fill
        base = op or OperatingPoint(name="propagate")
        super().__init__(bundle, replace(base, name="propagate", downscale=1.0, keyframe_interval=2**31 - 1, warp=True, refine=False,
                                         fusion="none", adaptive=None), **kw)

    def is_keyframe(self, rgb: np.ndarray) -> bool:
        return self.index in self.given or super().is_keyframe(rgb)

    def can_defer(self, rgb: np.ndarray) -> bool:
        return False

    def _keyframe(self, rgb: np.ndarray, image: np.ndarray | None, back_job: Future | None) -> FrameOutput:
        labels = self.given.get(self.index)
        if labels is None:
            labels = np.full(rgb.shape[:2], self.fill, np.uint8)
        elif labels.shape != rgb.shape[:2]:
            raise UsageError(f"the labels of frame {self.index} are {labels.shape[1]}x{labels.shape[0]}, the frame "
                             f"{rgb.shape[1]}x{rgb.shape[0]}")
        self.state = _State(flow_image=image, shape=rgb.shape, labels=labels, source_key=self.index)
        return FrameOutput(self.index, labels, keyframe=True, source_key=self.index)


class Propagator:
    """Label propagation for annotation tools: a label map on one frame + the following frames -> label maps.

    The same code path as the pipeline's propagated frames (DIS backward flow with the operating point's
    parameters, the C nearest-warp kernel); no network is involved.
    """

    def __init__(self, op: OperatingPoint | None = None, kernel_threads: int = kernels.DEFAULT_THREADS):
        self.flow = FlowEstimator(op.flow if op is not None else FlowParams())
        self.kernel_threads = kernel_threads

    def propagate(self, labels: np.ndarray, first: np.ndarray, frames: list[np.ndarray] | Iterator[np.ndarray]
                  ) -> Iterator[np.ndarray]:
        """Yield the labels carried onto each frame of ``frames``; ``labels`` belong to the RGB frame ``first``."""
        if labels.shape != first.shape[:2] or labels.dtype != np.uint8:
            raise UsageError(f"labels must be uint8 with the frame's size {first.shape[:2]}, got {labels.dtype} {labels.shape}")
        size, current = first.shape[:2], labels
        prev = self.flow.flow_image(to_gray(first))
        for rgb in frames:
            if rgb.shape != first.shape:
                raise UsageError(f"frame size changed from {first.shape} to {rgb.shape}; propagation needs one size")
            image = self.flow.flow_image(to_gray(rgb))
            current = kernels.warp([current], self.flow.between(image, prev, size), self.kernel_threads)[0]
            prev = image
            yield current

"""The bundle manifest (DESIGN.md "Bundle manifest") as typed dataclasses: export writes them, the runtime
reads and validates them, engine records use them. Torch-free.

Format 2 states the whole pre- and post-processing, so a third party with onnxruntime + numpy + OpenCV
reproduces the runtime's labels: ``input`` {name, dtype, layout, channels, scale, mean, std, size, resize}
and ``output`` {name, kind, layout, stride, upsample} (``examples/third_party_runner.py``). Keys added
within format 2 have defaults that describe the bundles written before them. Format 1 bundles (no ``output``, ``input.channel_order``) load
as format 2 with the values format 1 implied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseg.errors import UsageError

FORMAT_VERSION = 2
READS = (1, 2)  # formats this edgeseg reads
# How the runtime resizes frames to the network input (edgeseg.runtime.engines.preprocess.resize_rgb): OpenCV
# INTER_AREA when the frame is larger than the input, INTER_LINEAR otherwise.
RESIZE = "cv2:area-down,linear-up"
# Or bilinear both ways (OpenCV INTER_LINEAR, half-pixel centres: torch's interpolate(..., align_corners=False)
# without antialiasing), for a model whose own pipeline resizes that way.
RESIZE_LINEAR = "cv2:linear"
RESIZES = (RESIZE, RESIZE_LINEAR)
# How scores are upsampled before argmax (edgeseg.runtime.engines.postprocess): bilinear with half-pixel centres,
# as OpenCV INTER_LINEAR, the first maximal class on ties.
UPSAMPLE = "bilinear-half-pixel"
# How a model's own label map (output kind "labels") is brought to the frame's size: OpenCV INTER_NEAREST.
UPSAMPLE_LABELS = "nearest-cv2"
LAYOUTS = ("NCHW", "NHWC")
KINDS = ("scores", "labels")
# The tensors of the keyframe pre/post graphs (edgeseg.export.keyframe_graphs makes them; the device chains bind
# them): the uint8 HxWx3 frame in, the frame size, the uint8 HxW labels out.
KEYFRAME_FRAME, KEYFRAME_SIZE, KEYFRAME_LABELS = "frame", "size", "labels"


class BundleError(UsageError):
    """A bundle is missing, corrupt, or does not match its manifest."""


class _Reader:
    """Typed access to a parsed JSON document; a wrong value is a BundleError naming its key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, want: str) -> BundleError:
        return BundleError(f"{self.path}: {key} must be {want}; the manifest is damaged, re-export the bundle")

    def obj(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "an object")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def number(self, value: Any, key: str) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.fail(key, "a number")
        return float(value)

    def numbers(self, value: Any, key: str, n: int) -> list[float]:
        if not isinstance(value, list) or len(value) != n:
            raise self.fail(key, f"a list of {n} numbers")
        return [self.number(v, key) for v in value]

    def integer(self, value: Any, key: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "an integer")
        return value


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: list[Any]  # ints, or strings for dynamic axes
    dtype: str

    @classmethod
    def read(cls, r: _Reader, data: Any, key: str) -> TensorSpec:
        d = r.obj(data, key)
        if not isinstance(d.get("shape"), list):
            raise r.fail(f"{key}.shape", "a list")
        return cls(r.text(d.get("name"), f"{key}.name"), list(d["shape"]), str(d.get("dtype", "float32")))


@dataclass(frozen=True)
class FileRef:
    file: str  # relative to the bundle folder
    sha256: str

    @classmethod
    def read(cls, r: _Reader, data: Any, key: str) -> FileRef:
        d = r.obj(data, key)
        return cls(r.text(d.get("file"), f"{key}.file"), r.text(d.get("sha256"), f"{key}.sha256"))


@dataclass(frozen=True)
class GraphEntry:
    """One graph: its file (at the bundle's precision), other files of it (``variants``), and its I/O."""

    role: str  # backbone | a registered head
    file: str
    sha256: str
    precision: str  # what the file holds (a head that failed its gate keeps fp32)
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    downscale: float = 1.0
    requested: str = "fp32"
    variants: dict[str, FileRef] = field(default_factory=dict)  # fp32, ort_x86 (int8 twin for ORT on x86)
    quantization: dict[str, Any] | None = None
    fallback: str | None = None
    tile_context: int | None = None  # a tile graph (edgeseg.runtime.pipeline.tiles): margin pixels on each side of its core

    @property
    def shapes(self) -> dict[str, tuple]:
        """Input name -> shape, in the graph's input order."""
        return {i.name: tuple(i.shape) for i in self.inputs}

    @classmethod
    def read(cls, r: _Reader, data: Any, key: str) -> GraphEntry:
        d = r.obj(data, key)
        ref = FileRef.read(r, d, key)
        ios = {}
        for io in ("inputs", "outputs"):
            if not isinstance(d.get(io), list):
                raise r.fail(f"{key}.{io}", "a list of {name, shape, dtype} objects")
            ios[io] = [TensorSpec.read(r, t, f"{key}.{io}[{n}]") for n, t in enumerate(d[io])]
        variants = r.obj(d.get("variants", {}), f"{key}.variants")
        return cls(role=str(d.get("role", key.split(".")[-1].split("@")[0])), file=ref.file, sha256=ref.sha256,
                   precision=str(d.get("precision", "fp32")), inputs=ios["inputs"], outputs=ios["outputs"],
                   downscale=r.number(d.get("downscale", 1.0), f"{key}.downscale"), requested=str(d.get("requested", "fp32")),
                   variants={n: FileRef.read(r, v, f"{key}.variants.{n}") for n, v in variants.items()},
                   quantization=d.get("quantization"), fallback=d.get("fallback"),
                   tile_context=None if d.get("tile_context") is None else r.integer(d["tile_context"], f"{key}.tile_context"))


@dataclass(frozen=True)
class Classes:
    names: list[str]
    palette: list[list[int]]  # RGB per class id
    ignore_id: int | None = None

    @classmethod
    def read(cls, r: _Reader, data: Any) -> Classes:
        d = r.obj(data, "classes")
        names = d.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise r.fail("classes.names", "a non-empty list of strings")
        palette = d.get("palette")
        if not isinstance(palette, list):
            raise r.fail("classes.palette", "a list of [r, g, b]")
        ignore = d.get("ignore_id")
        return cls(list(names), [[int(c) for c in r.numbers(p, "classes.palette", 3)] for p in palette],
                   None if ignore is None else r.integer(ignore, "classes.ignore_id"))


@dataclass(frozen=True)
class InputSpec:
    """Frame -> network input: resize to ``size`` (``resize``), channel order, ``/ scale``, ``- mean``, ``/ std``, layout.

    A ``uint8`` input takes the resized frame as it is (scale 1, mean 0, std 1): the graph normalises.
    ``size`` is the D=1 graph's; a backbone at downscale D has its own size in its graph entry.
    """

    size: list[int]  # [h, w]
    mean: list[float]
    std: list[float]
    layout: str = "NCHW"
    channels: str = "rgb"
    scale: float = 255.0
    resize: str = RESIZE
    name: str = "image"
    dtype: str = "float32"

    @classmethod
    def read(cls, r: _Reader, data: Any) -> InputSpec:
        d = r.obj(data, "input")
        channels = str(d.get("channels", d.get("channel_order", "rgb"))).lower()  # format 1: channel_order "RGB"
        spec = cls(size=[int(v) for v in r.numbers(d.get("size"), "input.size", 2)], mean=r.numbers(d.get("mean"), "input.mean", 3),
                   std=r.numbers(d.get("std"), "input.std", 3), layout=str(d.get("layout", "NCHW")).upper(), channels=channels,
                   scale=r.number(d.get("scale", 255.0), "input.scale"), resize=str(d.get("resize", RESIZE)),
                   name=r.text(d.get("name", "image"), "input.name"), dtype=str(d.get("dtype", "float32")))
        if spec.layout not in LAYOUTS:
            raise r.fail("input.layout", " or ".join(LAYOUTS))
        if spec.channels not in ("rgb", "bgr"):
            raise r.fail("input.channels", "rgb or bgr")
        if spec.resize not in RESIZES:
            raise r.fail("input.resize", " or ".join(RESIZES))
        if spec.dtype not in ("float32", "uint8"):
            raise r.fail("input.dtype", "float32 or uint8")
        if spec.scale <= 0 or min(spec.std) <= 0:
            raise r.fail("input.scale and input.std", "positive")
        return spec

    def hw(self, shape: list[Any] | tuple) -> tuple[int, int]:
        """(H, W) of an input tensor of this layout."""
        return (int(shape[2]), int(shape[3])) if self.layout == "NCHW" else (int(shape[1]), int(shape[2]))


@dataclass(frozen=True)
class OutputSpec:
    """Which backbone output holds the segmentation and how it becomes labels at the frame's size.

    scores: 1 x C x h x w (``layout`` NCHW) or 1 x h x w x C (NHWC) floats, upsampled bilinearly to the frame
    then argmax (first maximal class); labels: class ids whose size-1 axes are dropped to h x w, resized to
    the frame with OpenCV's nearest neighbour. ``features``: the output fusion heads and the refiner read
    (edgeseg's own backbones), empty when the model has none.
    """

    name: str = "logits"
    kind: str = "scores"  # scores: C x h x w floats (argmax); labels: h x w ids
    stride: int = 4  # input size / output size
    upsample: str = UPSAMPLE
    layout: str = "NCHW"
    features: str = "feats"

    @classmethod
    def read(cls, r: _Reader, data: Any) -> OutputSpec:
        d = r.obj(data, "output")
        spec = cls(r.text(d.get("name", "logits"), "output.name"), str(d.get("kind", "scores")),
                   r.integer(d.get("stride", 4), "output.stride"), str(d.get("upsample", UPSAMPLE)),
                   str(d.get("layout", "NCHW")).upper(), r.text(d.get("features", "feats"), "output.features"))
        if spec.kind not in KINDS:
            raise r.fail("output.kind", " or ".join(KINDS))
        if spec.layout not in LAYOUTS:
            raise r.fail("output.layout", " or ".join(LAYOUTS))
        return spec


@dataclass(frozen=True)
class EngineRecord:
    """A TensorRT engine file and everything its key was made from, spelled out."""

    file: str
    onnx_sha256: str
    tensorrt: str
    gpu: str
    compute_capability: str
    precision: str

    @classmethod
    def read(cls, r: _Reader, data: Any, key: str) -> EngineRecord:
        d = r.obj(data, key)
        return cls(**{f: str(d.get(f, "")) for f in cls.__dataclass_fields__})


@dataclass
class Manifest:
    classes: Classes
    input: InputSpec
    graphs: dict[str, GraphEntry]
    output: OutputSpec = field(default_factory=OutputSpec)
    precision: str = "fp32"
    opset: int = 18
    producer: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # checkpoint, sha256, arch, config, heads {name: {checkpoint, sha256}}
    engines: dict[str, EngineRecord] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        """The manifest.json document (always the current format)."""
        doc = asdict(self)
        doc["format_version"] = FORMAT_VERSION
        for graph in doc["graphs"].values():  # only tile graphs say it
            if graph.get("tile_context") is None:
                graph.pop("tile_context", None)
        return doc

    @classmethod
    def from_json(cls, doc: Any, path: Path) -> Manifest:
        """Validate a parsed manifest.json (format 1 or 2) into a Manifest; BundleError naming the bad key."""
        r = _Reader(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("format_version"), int) or isinstance(doc["format_version"], bool):
            raise BundleError(f"{path} has no integer format_version; re-export the bundle")
        version = doc["format_version"]
        if version > FORMAT_VERSION:
            raise BundleError(f"{path} has format version {version}, this edgeseg reads up to {FORMAT_VERSION}; "
                              "upgrade edgeseg (pip install -U edgeseg)")
        for key in ("graphs", "classes", "input"):
            if key not in doc:
                raise BundleError(f"{path} lacks {key!r}; re-export the bundle")
        graphs = r.obj(doc["graphs"], "'graphs'")
        if not graphs:
            raise r.fail("'graphs'", "a non-empty object")
        entries = {k: GraphEntry.read(r, v, f"graphs.{k}") for k, v in graphs.items()}
        engines = r.obj(doc.get("engines", {}), "engines")
        output = OutputSpec.read(r, doc["output"]) if "output" in doc else _format1_output(entries, r, doc)
        return cls(classes=Classes.read(r, doc["classes"]), input=InputSpec.read(r, doc["input"]), graphs=entries, output=output,
                   precision=str(doc.get("precision", "fp32")), opset=r.integer(doc.get("opset", 18), "opset"),
                   producer=dict(r.obj(doc.get("producer", {}), "producer")), source=dict(r.obj(doc.get("source", {}), "source")),
                   engines={k: EngineRecord.read(r, v, f"engines.{k}") for k, v in engines.items()}, format_version=version)


def logits_stride(graphs: dict[str, GraphEntry], input_height: int) -> int:
    """Input height over the height of the backbone's ``logits`` output (4 when the shapes do not say)."""
    backbone = graphs.get("backbone")
    logits = next((o for o in backbone.outputs if o.name == "logits"), None) if backbone else None
    if logits is None or len(logits.shape) != 4 or not all(isinstance(v, int) for v in logits.shape):
        return 4
    return max(1, input_height // max(1, int(logits.shape[2])))


def _format1_output(graphs: dict[str, GraphEntry], r: _Reader, doc: dict[str, Any]) -> OutputSpec:
    """Format 1 implied the backbone's ``logits`` output (scores), upsampled bilinearly; its stride is read off the shapes."""
    size = r.obj(doc["input"], "input").get("size")
    if not isinstance(size, list):
        return OutputSpec()
    return OutputSpec(stride=logits_stride(graphs, int(r.numbers(size, "input.size", 2)[0])))

"""Feature extraction for videos: object-centric streams (velocity, geometry, appearance of
foreground regions; still objects against the training scene) and frame-centric window
embeddings. Each extractor is a frozen dataclass with `name`, `version`, `params` and
`extract(video) -> VideoFeatures` (`base.Extractor`), a mapping `Stream` -> `ObjectFeatures`."""

from mulde.video.backbones import Backbone, load_backbone
from mulde.video.features.aivad import UntrustedPickleError, read_aivad_features
from mulde.video.features.base import Extractor, FrameSource, iter_source, to_gray
from mulde.video.features.flow import FlowPreset, centred_flows
from mulde.video.features.frame_centric import (
    FrameCentricExtractor,
    WindowPolicy,
    nearest_centre,
    window_centres,
    window_indices,
)
from mulde.video.features.objects import ObjectCentricExtractor, scene_background_of
from mulde.video.features.records import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.regions import (
    Region,
    RegionMode,
    component_regions,
    foreground_mask,
    grid_regions,
    median_background,
)
from mulde.video.features.registry import (
    EXTRACTOR_PRESETS,
    build_extractor,
    extractor_names,
    with_settings,
)
from mulde.video.features.streams import (
    box_geometry,
    crop_boxes,
    region_histograms,
    square_crop_boxes,
    translation_histogram,
    velocity_histogram,
)

__all__ = [
    "Extractor",
    "FrameSource",
    "Stream",
    "VideoFeatures",
    "EXTRACTOR_PRESETS",
    "build_extractor",
    "extractor_names",
    "with_settings",
    "Backbone",
    "FlowPreset",
    "FrameCentricExtractor",
    "ObjectCentricExtractor",
    "ObjectFeatures",
    "Region",
    "RegionMode",
    "WindowPolicy",
    "box_geometry",
    "centred_flows",
    "iter_source",
    "read_aivad_features",
    "to_gray",
    "UntrustedPickleError",
    "component_regions",
    "crop_boxes",
    "foreground_mask",
    "grid_regions",
    "load_backbone",
    "median_background",
    "nearest_centre",
    "scene_background_of",
    "square_crop_boxes",
    "translation_histogram",
    "region_histograms",
    "velocity_histogram",
    "window_centres",
    "window_indices",
]

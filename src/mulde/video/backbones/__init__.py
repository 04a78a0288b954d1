"""Image and video backbones (EfficientNet-Lite0, CLIP, Hiera) behind one registry."""

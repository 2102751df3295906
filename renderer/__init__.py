"""dreamgallery: DeepDream-style art renderer and gallery generator."""

__version__ = "0.1.0"

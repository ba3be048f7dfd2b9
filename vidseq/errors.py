"""Errors that the command line turns into one clear line on stderr."""

from __future__ import annotations


class VidseqError(Exception):
    """A problem with the user's input, settings or files; the message says what to do."""


class ConfigError(VidseqError, ValueError):
    """A setting has a value vidseq does not accept."""


class VideoError(VidseqError):
    """One video could not be decoded; batch commands record it and carry on."""


class CacheError(VidseqError):
    """A feature cache is missing, unreadable, or made with other settings."""


class WeightsError(VidseqError):
    """Backbone weights could not be found or loaded."""


class ModelFileError(VidseqError):
    """A model file is missing, corrupt, or not a vidseq model."""

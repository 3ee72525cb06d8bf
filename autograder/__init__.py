"""cnn-course autograder: release, sandboxed grading, feedback, reports and the
``cnn-course`` command line. ``autograder.tools`` holds what students import."""

__version__ = "0.1.0"

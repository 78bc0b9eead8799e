"""The application layer: command line, build pipeline, FastAPI app and job runner."""

"""Developer tools that the package never imports: kernel accuracy checks and emulation (used by tests), the
precision study, and GPU benchmark scripts (`tools/gpu/`)."""

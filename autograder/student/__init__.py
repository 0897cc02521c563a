"""What students use: gradient checks with diagnoses, data loaders, plotting helpers."""

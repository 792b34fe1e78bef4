"""The bench's sections, one module each: `run(ctx) -> SectionResult`."""

"""Models: base encoder, task heads, training, registry, batch scoring, clustering."""

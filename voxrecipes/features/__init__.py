"""voxrecipes.features: frame-level features (log-mel) and utterance statistics embeddings."""

"""voxrecipes.metrics"""

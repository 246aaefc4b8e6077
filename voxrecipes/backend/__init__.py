"""voxrecipes.backend"""

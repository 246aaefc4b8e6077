"""voxrecipes.fusion"""

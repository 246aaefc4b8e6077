"""voxrecipes.models"""

"""voxrecipes.losses"""

"""voxrecipes.tasks"""

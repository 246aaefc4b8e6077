"""voxrecipes.data"""

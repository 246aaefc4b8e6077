"""voxrecipes.corpora"""

"""voxrecipes.bin"""

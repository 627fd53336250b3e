# Empty dependencies file for harness.
# This may be replaced when dependencies are built.

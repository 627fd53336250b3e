# Empty dependencies file for loadgate.
# This may be replaced when dependencies are built.

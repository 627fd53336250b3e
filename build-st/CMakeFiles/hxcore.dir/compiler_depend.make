# Empty compiler generated dependencies file for hxcore.
# This may be replaced when dependencies are built.

file(REMOVE_RECURSE
  "libhxcore.a"
)

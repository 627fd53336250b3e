file(REMOVE_RECURSE
  "libloadgate.a"
)

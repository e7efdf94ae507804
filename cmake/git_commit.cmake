# Run at every build (cmake -DSRC=... -DOUT=... -P git_commit.cmake): writes OUT with the commit
# the sources are at, "+dirty" when tracked files differ from it, "unknown" outside a git
# checkout. OUT is rewritten only when that text changes, so a build that changes nothing
# recompiles nothing.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE sha OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR sha STREQUAL "")
  set(sha unknown)
else()
  execute_process(COMMAND git diff --quiet HEAD -- WORKING_DIRECTORY ${SRC} RESULT_VARIABLE dirty ERROR_QUIET)
  if(NOT dirty EQUAL 0)
    string(APPEND sha "+dirty")
  endif()
endif()
set(text "#define LOWBIT_GIT_COMMIT \"${sha}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()

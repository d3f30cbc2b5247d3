# nlohmann/json, the JSON library of run.json and the reports: the system's package when present
# (Debian: nlohmann-json3-dev), else fetched at a pinned release. It is used only inside .cpp files,
# so the installed headers and the exported targets do not depend on it.
include(FetchContent)
if(NOT TARGET nlohmann_json::nlohmann_json)
  find_package(nlohmann_json 3.10 QUIET)
  if(NOT nlohmann_json_FOUND)
    message(STATUS "nlohmann_json not found on this machine: fetching it")
    FetchContent_Declare(nlohmann_json
      URL https://github.com/nlohmann/json/releases/download/v3.11.2/json.tar.xz
      URL_HASH SHA256=8c4b26bf4b422252e13f332bc5e388ec0ab5c3443d24399acb675e68278d341f)
    FetchContent_MakeAvailable(nlohmann_json)
  endif()
endif()

# Installs the module libraries, their headers under include/pathkernel/<module>/, and a package
# config so that `find_package(pathkernel)` gives the pathkernel:: targets.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(modules GLOBAL PROPERTY PATHKERNEL_MODULES)
install(TARGETS ${modules} pathkernel_umbrella EXPORT pathkernelTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(target IN LISTS modules)
  string(REPLACE "pathkernel_" "" dir ${target})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pathkernel/${dir}
    FILES_MATCHING PATTERN "*.hpp"
    PATTERN "internal" EXCLUDE)  # headers for the module's own sources (io/internal: nlohmann/json)
endforeach()

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/pathkernel)
install(EXPORT pathkernelTargets NAMESPACE pathkernel:: DESTINATION ${config_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/pathkernelConfig.cmake.in
  ${PROJECT_BINARY_DIR}/pathkernelConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pathkernelConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pathkernelConfig.cmake
  ${PROJECT_BINARY_DIR}/pathkernelConfigVersion.cmake DESTINATION ${config_dir})

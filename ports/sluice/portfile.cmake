# Overlay port: vcpkg install sluice --overlay-ports=<this repository>/ports
#
# The source is the checkout this port lives in, not a download: an overlay port kept
# in the repository always builds the tree beside it, so the port never names a
# tag or SHA512 that lags behind (and works before anything is published). A port
# for the curated registry would instead fetch a release:
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/sluice REF "v${VERSION}"
#                     SHA512 <sha512 of that archive> HEAD_REF main)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# Header-only: one configuration carries every file, so the debug one is not built.
set(VCPKG_BUILD_TYPE release)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DSLUICE_BUILD_TESTS=OFF
        -DSLUICE_BUILD_EXAMPLES=OFF
        -DSLUICE_INSTALL=ON
)
vcpkg_cmake_install()

# sluice installs its CMake package to share/cmake/sluice; vcpkg wants share/sluice.
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/sluice)
vcpkg_fixup_pkgconfig()

# Nothing is compiled: no lib/, and no debug tree in case a triplet builds one anyway.
# The LICENSE sluice puts in share/doc/sluice becomes share/sluice/copyright below.
file(REMOVE_RECURSE
    "${CURRENT_PACKAGES_DIR}/debug"
    "${CURRENT_PACKAGES_DIR}/lib"
    "${CURRENT_PACKAGES_DIR}/share/doc"
)

vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")

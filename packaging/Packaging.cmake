# A Debian package of the epochfs binary: `cmake --build BUILD --target package` (or
# `cpack -G DEB` in BUILD) writes epochfs_<version>_amd64.deb. Library dependencies are found
# by dpkg-shlibdeps; fuse3 (fusermount3) is needed at run time as well.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "epochfs")
set(CPACK_PACKAGE_VENDOR "epochfs developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "FUSE filesystem caching remote deep-learning datasets on a local SSD")
set(CPACK_PACKAGE_CONTACT "epochfs developers <epochfs@localhost>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_PACKAGE_SECTION "utils")
install(FILES ${CMAKE_SOURCE_DIR}/docs/config.md ${CMAKE_SOURCE_DIR}/docs/semantics.md
        DESTINATION share/doc/epochfs OPTIONAL)
include(CPack)

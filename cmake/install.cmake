# What `cmake --install` puts where, and the pieces of the .deb (cmake/package.cmake).
#
# Components:
#   runtime  zlayer-wg and zlayer-overlay (sbin), their man pages, the systemd
#            units, the copyright file                  -> package zlayer-overlay
#   dev      the sans-I/O core and the device as static libraries, their
#            headers (include/zlayer/LAYER/*.h) and the CMake package
#            ZlayerOverlay (find_package)               -> package zlayer-overlay-dev
#
# Every destination is relative to CMAKE_INSTALL_PREFIX, so
# `cmake --install build --prefix /tmp/x` writes nothing outside /tmp/x.
include(CMakePackageConfigHelpers)

set(ZL_DOC_NAME zlayer-overlay)
set(ZL_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "systemd system unit directory, relative to the install prefix")
set(ZL_DATADIR "${CMAKE_INSTALL_DATADIR}/zlayer-overlay")
set(ZL_DATADIR_FULL "${CMAKE_INSTALL_FULL_DATADIR}/zlayer-overlay")

# --- programs -----------------------------------------------------------------
install(TARGETS zlayer-wg zlayer-overlay
        RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR} COMPONENT runtime)

# --- man pages: scdoc sources, gzipped as Debian ships them ------------------
find_program(ZL_SCDOC scdoc)
find_program(ZL_GZIP gzip)
if(ZL_SCDOC AND ZL_GZIP)
  set(pages)
  foreach(page zlayer-wg.8 zlayer-overlay.8)
    set(src ${CMAKE_SOURCE_DIR}/packaging/man/${page}.scd)
    set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND sh -c "\"${ZL_SCDOC}\" < \"${src}\" | \"${ZL_GZIP}\" -9n > \"${out}\""
      DEPENDS ${src}
      COMMENT "Man page ${page}"
      VERBATIM)
    list(APPEND pages ${out})
  endforeach()
  add_custom_target(man ALL DEPENDS ${pages})
  install(FILES ${pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT runtime)
else()
  message(WARNING "scdoc or gzip not found: the man pages are not built (apt-get install scdoc)")
endif()

# --- systemd -------------------------------------------------------------------
# zlayer-wg@IFNAME.service runs zlayer-wg in the foreground (Type=notify);
# zlayer-overlay.service runs the overlay daemon.
# The wg-quick@ drop-in is opt-in: it is installed as a plain file for the
# user to link into /etc/systemd/system/wg-quick@IFNAME.service.d/.
configure_file(${CMAKE_SOURCE_DIR}/packaging/systemd/zlayer-wg@.service.in
               ${CMAKE_BINARY_DIR}/systemd/zlayer-wg@.service @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/packaging/systemd/zlayer-overlay.service.in
               ${CMAKE_BINARY_DIR}/systemd/zlayer-overlay.service @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/packaging/systemd/wg-quick-zlayer-wg.conf.in
               ${CMAKE_BINARY_DIR}/systemd/wg-quick-zlayer-wg.conf @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/systemd/zlayer-wg@.service
              ${CMAKE_BINARY_DIR}/systemd/zlayer-overlay.service
        DESTINATION ${ZL_SYSTEMD_UNITDIR} COMPONENT runtime)
install(FILES ${CMAKE_BINARY_DIR}/systemd/wg-quick-zlayer-wg.conf
        DESTINATION ${ZL_DATADIR}/systemd COMPONENT runtime)

# --- copyright (Debian puts one in each package's doc directory) ---------------
install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/copyright
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/zlayer-overlay COMPONENT runtime)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/copyright
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/zlayer-overlay-dev COMPONENT dev)

# --- the library: the sans-I/O core (wg) and the device, with what they use ---
set(ZL_EXPORTED_LAYERS base crypto wg net device)
foreach(layer ${ZL_EXPORTED_LAYERS})
  install(TARGETS zl_${layer} EXPORT ZlayerOverlayTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  # Headers only; test doubles and test helpers stay in the tree.
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/src/${layer}/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/zlayer/${layer} COMPONENT dev
          FILES_MATCHING PATTERN "*.h"
          PATTERN "*test*" EXCLUDE PATTERN "*naive*" EXCLUDE PATTERN "fake_*" EXCLUDE
          PATTERN "*_gcrypt.h" EXCLUDE PATTERN "*_win.h" EXCLUDE)  # Windows-only internals
endforeach()
set(ZL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ZlayerOverlay)
install(EXPORT ZlayerOverlayTargets NAMESPACE ZlayerOverlay::
        DESTINATION ${ZL_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/ZlayerOverlayConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/ZlayerOverlayConfig.cmake
                              INSTALL_DESTINATION ${ZL_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ZlayerOverlayConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ZlayerOverlayConfig.cmake
              ${CMAKE_BINARY_DIR}/ZlayerOverlayConfigVersion.cmake
        DESTINATION ${ZL_CMAKE_DIR} COMPONENT dev)

# The .deb packages, made with CPack from the install components
# (cmake/install.cmake):  cmake --build build --target package
#   zlayer-overlay_VERSION-1_ARCH.deb      programs, man pages, systemd units
#   zlayer-overlay-dev_VERSION-1_ARCH.deb  static libraries, headers, CMake package
# Shared-library dependencies are computed by dpkg-shlibdeps (dpkg-dev).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME zlayer-overlay)
set(CPACK_PACKAGE_VENDOR "zlayer-overlay developers")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/zlayer/zlayer-overlay")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
set(CPACK_STRIP_FILES ON)
# The package installs where the build was configured to (-DCMAKE_INSTALL_PREFIX=/usr
# for a Debian package), so the paths in the systemd units are right.
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_COMPONENTS_ALL runtime dev)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "zlayer-overlay developers <maintainers@zlayer-overlay.invalid>")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME zlayer-overlay)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "wireguard-tools")
# First line: the synopsis; the rest: the long description ("." = blank line).
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"userspace WireGuard (zlayer-wg) and the zlayer-overlay daemon
zlayer-wg is a userspace implementation of WireGuard, a drop-in for
wireguard-go: wg(8) and wg-quick(8) configure it through
/var/run/wireguard/IFNAME.sock.
.
zlayer-overlay builds an encrypted overlay network on it: a control node,
nodes that join with single-use tokens, address allocation, peer
distribution, DNS and health.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME zlayer-overlay-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libssl-dev (>= 3.0), libfmt-dev, libmnl-dev, pkg-config")
set(CPACK_DEBIAN_DEV_DESCRIPTION
"zlayer-overlay library: the WireGuard protocol core and the device
Static libraries, headers and the CMake package ZlayerOverlay
(find_package(ZlayerOverlay)): the sans-I/O WireGuard protocol core
(ZlayerOverlay::wg) and the device that joins it to a TUN and UDP
(ZlayerOverlay::device).")

include(CPack)
